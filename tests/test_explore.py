"""The optimizer explorer (`python -m nets.explore`): its JSON API against `optim.minimize`
called directly, its answers to bad requests, its cache of compiled programs, and the page in
a real headless Chromium."""

import http.client
import json
import shutil
import socket
import tempfile
import time

import jax.numpy as jnp
import numpy as np
import pytest

import optim
import schedules
from nets.explore import LANDSCAPES, METHODS, make_server, serve_in_thread
from nets.explore.__main__ import main
from nets.explore.runs import BOUND, MAX_STEPS
from nets.explore.server import MAX_BODY


@pytest.fixture(scope="module")
def server():
    srv = make_server(0)
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def call(server, method, path, body=None, headers=None):
    """(status, decoded JSON) of one request; `body` bytes are sent as they are."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=120)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


def direct(landscape, start, optimizer, steps):
    result = optim.minimize(LANDSCAPES[landscape].fn, jnp.asarray(start, jnp.float32), optimizer,
                            max_steps=steps, return_trajectory=True)
    n = int(result.num_steps)
    traj = result.trajectory
    return np.asarray(traj.params)[: n + 1], np.asarray(traj.values)[: n + 1], result.reason


def test_the_answers_equal_minimize_called_directly(server):
    start, steps = [3.0, -4.0], 20
    runs = [
        ({"optimizer": "sgd", "learning_rate": 0.03}, optim.sgd(0.03)),
        ({"optimizer": "nesterov", "learning_rate": 0.01, "momentum": 0.8, "lr_decay": 0.05},
         optim.sgd(schedules.inverse_time_decay(0.01, 0.05), momentum=0.8, nesterov=True)),
        ({"optimizer": "adam", "learning_rate": 0.3, "lr_decay": 0.1, "b2": 0.99},
         optim.adam(schedules.inverse_time_decay(0.3, 0.1), b1=0.9, b2=0.99)),
    ]
    status, answer = call(server, "POST", "/api/run", {
        "landscape": "lecture_quadratic", "start": start, "steps": steps,
        "runs": [request for request, _ in runs]})
    assert status == 200, answer
    assert [r["optimizer"] for r in answer["runs"]] == ["sgd", "nesterov", "adam"]
    for got, (_, optimizer) in zip(answer["runs"], runs, strict=True):
        points, values, reason = direct("lecture_quadratic", start, optimizer, steps)
        # the same float32 numbers: the JSON carries each one exactly
        np.testing.assert_array_equal(np.asarray(got["points"], np.float32), points)
        np.testing.assert_array_equal(np.asarray(got["values"], np.float32), values)
        assert got["reason"] == reason and got["diverged_at"] is None
        assert got["num_steps"] == len(values) - 1
    assert answer["runs"][2]["hyperparameters"] == {
        "learning_rate": 0.3, "lr_decay": 0.1, "b1": 0.9, "b2": 0.99}


def test_divergence_is_cut_at_the_last_point_inside_the_bound(server):
    # 10 x1^2 with the rate 0.2: x1 is multiplied by 1 - 20 * 0.2 = -3 per step.
    status, answer = call(server, "POST", "/api/run", {
        "landscape": "lecture_quadratic", "start": [-8.0, 8.0], "steps": 20,
        "runs": [{"optimizer": "sgd", "learning_rate": 0.2}]})
    assert status == 200
    (run,) = answer["runs"]
    # |x1| = 8 * 3^k first exceeds BOUND * 10 = 100 at k = 3
    assert run["reason"] == "diverged" and run["diverged_at"] == 3
    assert len(run["points"]) == 3 and run["num_steps"] == 2
    assert np.all(np.abs(run["points"]) <= BOUND * 10)
    np.testing.assert_allclose(np.asarray(run["points"])[:, 0], [-8.0, 24.0, -72.0], rtol=1e-6)


def test_a_nan_or_inf_cuts_the_run_before_it():
    from nets.explore.runs import _finish

    points = np.array([[0.5, 0.5], [0.25, 0.5], [np.nan, 0.5], [np.nan, np.nan]], np.float32)
    values = np.array([1.0, 0.5, np.inf, np.nan], np.float32)
    run = _finish("saddle", points, values, num_steps=3, code=6)  # code 6: minimize's diverged
    assert run["diverged_at"] == 2 and run["reason"] == "diverged"
    assert run["points"] == [[0.5, 0.5], [0.25, 0.5]] and run["values"] == [1.0, 0.5]
    values[2] = 2.0  # a finite value at a NaN point still diverges there
    assert _finish("saddle", points, values, num_steps=3, code=6)["diverged_at"] == 2


def test_a_warm_request_compiles_nothing(server):
    body = {"landscape": "beale", "start": [1.0, 1.5], "steps": 30,
            "runs": [{"optimizer": "rmsprop", "learning_rate": 0.01}]}
    status, cold = call(server, "POST", "/api/run", body)
    assert status == 200 and cold["compiled"] == 1
    before = server.programs.compilations
    body.update(start=[-2.0, 3.0], runs=[{"optimizer": "rmsprop", "learning_rate": 0.05,
                                          "decay": 0.5, "lr_decay": 0.01}])
    status, warm = call(server, "POST", "/api/run", body)
    assert status == 200 and warm["compiled"] == 0
    assert server.programs.compilations == before
    points, _, _ = direct("beale", [-2.0, 3.0], optim.rmsprop(
        schedules.inverse_time_decay(0.05, 0.01), decay=0.5), 30)
    np.testing.assert_array_equal(np.asarray(warm["runs"][0]["points"], np.float32), points)


GOOD = {"landscape": "saddle", "steps": 10, "runs": [{"optimizer": "sgd"}]}
BAD = [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    ({**GOOD, "landscape": "everest"}, "unknown landscape 'everest'"),
    ({**GOOD, "runs": [{"optimizer": "adamw"}]}, "unknown optimizer 'adamw'"),
    ({**GOOD, "runs": [{"optimizer": "sgd", "learning_rate": -0.1}]},
     "learning_rate must be in [0, inf), got -0.1"),
    (b'{"landscape": "saddle", "runs": [{"optimizer": "sgd", "learning_rate": Infinity}]}',
     "learning_rate must be finite, got inf"),
    (b'{"landscape": "saddle", "runs": [{"optimizer": "adam", "b1": NaN}]}',
     "b1 must be finite, got nan"),
    ({**GOOD, "runs": [{"optimizer": "sgd", "learning_rate": "fast"}]}, "must be a number"),
    ({**GOOD, "runs": [{"optimizer": "momentum", "momentum": 1.5}]}, "momentum must be in"),
    ({**GOOD, "runs": [{"optimizer": "sgd", "momentum": 0.9}]},
     "unknown hyperparameter(s) momentum"),
    ({**GOOD, "steps": MAX_STEPS + 1}, f"steps must be an integer in [1, {MAX_STEPS}]"),
    ({**GOOD, "steps": 0}, "steps must be an integer"),
    ({**GOOD, "start": [2.5, 0.0]}, "outside saddle's domain [-2, 2] x [-2, 2]"),
    ({**GOOD, "start": [0.0]}, "start must be a list [x, y]"),
    ({**GOOD, "runs": []}, "runs must be a list of 1 to"),
    ({**GOOD, "colour": "red"}, "unknown field(s) colour"),
]


@pytest.mark.parametrize("body,message", BAD, ids=range(len(BAD)))
def test_a_bad_request_gets_a_400_naming_the_problem(server, body, message):
    status, answer = call(server, "POST", "/api/run", body)
    assert status == 400
    assert message in answer["error"]


def test_bad_requests_leave_the_server_serving(server):
    for body, _ in BAD:
        call(server, "POST", "/api/run", body)
    assert call(server, "GET", "/no/such/page")[0] == 404
    assert call(server, "GET", "/api/landscapes/everest")[0] == 404
    assert call(server, "POST", "/api/nothing", GOOD)[0] == 404
    # a body too large is refused unread, from its Content-Length
    status, answer = call(server, "POST", "/api/run", b"",
                          headers={"Content-Length": str(MAX_BODY + 1)})
    assert status == 400 and f"at most {MAX_BODY}" in answer["error"]
    status, answer = call(server, "POST", "/api/run", b"{}", headers={"Content-Length": "x"})
    assert status == 400 and "Content-Length" in answer["error"]
    status, answer = call(server, "POST", "/api/run", GOOD)
    assert status == 200 and answer["runs"][0]["num_steps"] == 10


def test_the_landscapes_and_optimizers_the_page_is_given(server):
    status, lands = call(server, "GET", "/api/landscapes")
    assert status == 200
    keys = [land["key"] for land in lands]
    for needed in ("lecture_quadratic", "saddle", "rosenbrock", "beale", "sine_exp"):
        assert needed in keys
    rosen = lands[keys.index("rosenbrock")]
    assert rosen["domain"] == [[-2.0, 2.0], [-1.0, 3.0]] and rosen["minima"] == [[1.0, 1.0]]
    status, grid = call(server, "GET", "/api/landscapes/rosenbrock")
    assert status == 200 and len(grid["z"]) == len(grid["y"]) and len(grid["z"][0]) == len(
        grid["x"])
    i, j = 7, 30
    expected = float(LANDSCAPES["rosenbrock"].fn(jnp.asarray([grid["x"][j], grid["y"][i]])))
    assert grid["z"][i][j] == pytest.approx(expected, rel=1e-6)
    status, opts = call(server, "GET", "/api/optimizers")
    names = [o["name"] for o in opts["optimizers"]]
    assert names == list(METHODS)
    assert {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"} <= set(names)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    for path in ("/", "/static/explore.js", "/static/explore.css"):
        conn.request("GET", path)
        response = conn.getresponse()
        page = response.read().decode()
        assert response.status == 200 and len(page) > 500
    conn.close()


def test_the_command_reports_a_port_in_use(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--port", str(taken.getsockname()[1]), "--no-browser"]) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


# --- the page in a real browser ------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no headless browser: the chromium and chromium-driver packages are needed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.TemporaryDirectory()
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=driver)
    session = webdriver.Chrome(options=options, service=service)
    yield session
    session.quit()
    profile.cleanup()


def wait_for(condition, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the page did not get there in time")


@pytest.mark.slow
def test_the_page_draws_the_runs_in_a_real_browser(server, browser):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    body = lambda name: browser.execute_script(f"return document.body.dataset.{name}")
    browser.get(server.url)
    wait_for(lambda: body("ready") == "true")
    Select(browser.find_element(By.ID, "landscape")).select_by_value("rosenbrock")
    wait_for(lambda: body("landscape") == "rosenbrock")
    assert browser.find_elements(By.CSS_SELECTOR, "#contours path.contour")
    steps = browser.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("80")
    for name, rate in (("sgd", "0.001"), ("momentum", "0.0005"), ("adam", "0.05")):
        field = browser.find_element(By.ID, f"{name}-learning_rate")
        field.clear()
        field.send_keys(rate)
    plot = browser.find_element(By.ID, "plot")
    browser.execute_script("arguments[0].scrollIntoView()", plot)
    # a click left of and above the centre: x < 0, y > 1 on Rosenbrock's [-2, 2] x [-1, 3]
    ActionChains(browser).move_to_element_with_offset(plot, -plot.size["width"] // 4,
                                                      -plot.size["height"] // 4).click().perform()
    x = float(browser.find_element(By.ID, "start-x").get_attribute("value"))
    y = float(browser.find_element(By.ID, "start-y").get_attribute("value"))
    assert -1.5 < x < -0.5 and 1.5 < y < 2.5
    browser.find_element(By.ID, "play").click()
    wait_for(lambda: body("runState") in ("done", "error"))
    assert body("runState") == "done", browser.find_element(By.ID, "status").text
    cold = float(body("firstFrameMs"))
    paths = browser.find_elements(By.CSS_SELECTOR, "#trajectories path.trajectory")
    assert sorted(p.get_attribute("data-optimizer") for p in paths) == [
        "adam", "momentum", "rmsprop", "sgd"]
    for path in paths:
        assert path.get_attribute("d").count("L") >= 10  # drawn through many steps
    curves = browser.find_elements(By.CSS_SELECTOR, "#loss-curves path.loss-curve")
    assert len(curves) == 4 and all(c.get_attribute("d").count("L") >= 10 for c in curves)
    assert "Computed in" in browser.find_element(By.ID, "status").text
    # warm: Enter on the focused plot plays again, served by the compiled programs
    browser.execute_script("document.body.dataset.runState = ''")
    plot.send_keys(Keys.ENTER)
    wait_for(lambda: body("runState") == "done")
    assert body("compiled") == "0"
    warm = float(body("firstFrameMs"))
    print(f"first frame after play: cold {cold:.0f} ms, warm {warm:.0f} ms")
    # a bad value: the server's message is shown in the live region
    field = browser.find_element(By.ID, "sgd-learning_rate")
    field.clear()
    field.send_keys("-1")
    field.send_keys(Keys.ENTER)
    wait_for(lambda: body("runState") == "error")
    status = browser.find_element(By.ID, "status")
    assert "learning_rate must be in [0, inf), got -1.0" in status.text
    assert status.get_attribute("aria-live") == "polite"
