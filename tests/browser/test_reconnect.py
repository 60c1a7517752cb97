"""The canvas reconnects by itself when the server restarts, and keeps working afterwards."""
from canvaskit import _free_port, start_server, stop_server


def test_the_canvas_reconnects_after_a_server_restart(browser, tmp_path):
    port = _free_port()
    proc = start_server(tmp_path, port)
    ctx = browser.new_context(viewport={"width": 1200, "height": 700})
    try:
        page = ctx.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("window.__latentflow?.isReady && window.__latentflow.app.api.connected", timeout=20000)
        stop_server(proc)
        page.wait_for_function("document.querySelector('#lf-status').textContent === 'reconnecting…'", timeout=10000)
        proc = start_server(tmp_path, port)
        page.wait_for_function("window.__latentflow.app.api.connected && document.querySelector('#lf-status').textContent === 'connected'",
                               timeout=20000)
        # The new server answers the canvas's requests (node definitions are reloaded on reconnect).
        assert page.evaluate("window.__latentflow.app.api.objectInfo().then(i => 'CheckpointLoaderSimple' in i)")
    finally:
        ctx.close()
        stop_server(proc)
