"""The live web view of a running twin (`twin run --live`, `twin hil --live`) and the replay of
a finished run (`twin view DIR`): a local page served by Starlette over uvicorn, updated by
server-sent events; every asset (plotly.js included) served from this process.

- `feed`: what the page shows, read from a running `Line` (snapshots and per-client deltas)
- `ports`: the observer hooks on the simulated ports (each press cycle's trace as it goes)
- `hil`: `HilWatch`, device link health, live samples and faults from the adapters' bus
- `server`: the ASGI app (token-protected when bound beyond loopback) and its uvicorn server
- `runner`: `LiveSimulation`, a simulated run in steps (optionally paced) with the view open
- `replay`: a finished run's frames from trace.sqlite, for the time slider
- `view`: the page and its assets

Starlette and uvicorn are the `live` extra; nothing here is imported by a plain run."""
