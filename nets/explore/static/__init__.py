"""The explorer page: index.html, explore.js and explore.css, shipped as package data."""
