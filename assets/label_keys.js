// Keyboard and mouse selection for the labeling page. Navigation keys click the pager
// buttons; selection lives in the tiles' "selected" class and is mirrored into the
// label-selection store; label, unlabel and undo keys go to the server via label-key.
(function () {
  let anchor = null;  // the tile a shift-click range starts from

  function tiles() {
    return Array.from(document.querySelectorAll("#label-grid .thumb-tile"));
  }
  function itemOf(tile) { return parseInt(tile.dataset.item, 10); }
  function publishSelection() {
    const ids = tiles().filter(t => t.classList.contains("selected")).map(itemOf);
    window.dash_clientside.set_props("label-selection", {data: ids});
  }
  function click(id) {
    const button = document.getElementById(id);
    if (button) { button.click(); }
  }
  function typing(target) {
    const tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  function sendKey(key) {
    window.dash_clientside.set_props("label-key", {data: {key: key, at: Date.now()}});
  }
  function openSelected() {
    const selected = tiles().filter(t => t.classList.contains("selected"));
    if (selected.length) {
      window.dash_clientside.set_props("label-open", {data: {item: itemOf(selected[0]), at: Date.now()}});
    }
  }

  document.addEventListener("click", function (event) {
    const tile = event.target.closest && event.target.closest("#label-grid .thumb-tile");
    if (!tile) { return; }
    const all = tiles();
    if (event.shiftKey && anchor && all.includes(anchor)) {
      const [from, to] = [all.indexOf(anchor), all.indexOf(tile)].sort((a, b) => a - b);
      if (!(event.ctrlKey || event.metaKey)) { all.forEach(t => t.classList.remove("selected")); }
      all.slice(from, to + 1).forEach(t => t.classList.add("selected"));
    } else if (event.ctrlKey || event.metaKey) {
      tile.classList.toggle("selected");
      anchor = tile;
    } else {
      all.forEach(t => t.classList.toggle("selected", t === tile));
      anchor = tile;
    }
    publishSelection();
  });

  document.addEventListener("dblclick", function (event) {
    const tile = event.target.closest && event.target.closest("#label-grid .thumb-tile");
    if (!tile) { return; }
    tiles().forEach(t => t.classList.toggle("selected", t === tile));
    anchor = tile;
    publishSelection();
    openSelected();
  });

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("label-grid") || typing(event.target)) { return; }
    if (document.querySelector(".modal.show") && event.key !== "Escape") { return; }
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    let handled = true;
    if (key === "ArrowRight" || key === "PageDown") { click("label-next"); }
    else if (key === "ArrowLeft" || key === "PageUp") { click("label-previous"); }
    else if (key === "?") { click("label-help-button"); }
    else if (key === "Enter") { openSelected(); }
    else if (key === "Escape") {
      if (document.querySelector(".modal.show")) { handled = false; }
      else { tiles().forEach(t => t.classList.remove("selected")); publishSelection(); }
    }
    else if ((key === "a" || key === "A") && !ctrl) {
      tiles().forEach(t => t.classList.add("selected")); publishSelection();
    }
    else if ((key === "z" || key === "Z") && !event.altKey) { sendKey("undo"); }
    else if (ctrl) { handled = false; }
    else if (/^[1-9]$/.test(key)) { sendKey(key); }
    else if (key === "u" || key === "U") { sendKey("unlabel"); }
    else if ((key === "y" || key === "Y") && document.getElementById("label-suggestion-accept")) {
      window.dash_clientside.set_props("label-accept", {data: {at: Date.now()}});
    }
    else { handled = false; }
    if (handled) { event.preventDefault(); }
  });
})();
