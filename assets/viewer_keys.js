// Keys inside the labeling page's full-resolution viewer (pages/_label_viewer.py): ← and →
// show the previous / next image of the gallery's page (by clicking the viewer's arrows),
// the class digits, u and z label, unlabel or undo on the image shown (through the
// label-viewer-key store; callbacks/label_viewer.py writes one tagging event). Esc is left
// to the dialog, which closes. The gallery's own keys (label_keys.js) stand aside while a
// dialog is open.
(function () {
  function viewerOpen() {
    const viewer = document.getElementById("label-viewer");
    return Boolean(viewer && viewer.closest(".modal.show"));
  }
  function typing(target) {
    const tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  function click(id) {
    const button = document.getElementById(id);
    if (button && !button.disabled) { button.click(); }
  }
  function send(key) {
    window.dash_clientside.set_props("label-viewer-key", {data: {key: key, at: Date.now()}});
  }

  document.addEventListener("keydown", function (event) {
    if (!viewerOpen() || typing(event.target) || event.altKey) { return; }
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    let handled = true;
    if (key === "ArrowLeft" && !ctrl) { click("label-viewer-previous"); }
    else if (key === "ArrowRight" && !ctrl) { click("label-viewer-next"); }
    else if (key === "z" || key === "Z") { send("undo"); }  // ctrl+z too, as in the gallery
    else if (ctrl) { handled = false; }
    else if (/^[1-9]$/.test(key)) { send(key); }
    else if (key === "u" || key === "U") { send("unlabel"); }
    else { handled = false; }
    if (handled) { event.preventDefault(); }
  });
})();
