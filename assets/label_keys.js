// Keyboard and mouse labeling on the labeling page.
//
// Selection lives in the tiles' "selected" class and is mirrored into the label-selection
// store. A label key (1-9, u) or a class/Unlabel button shows the new label on the selected
// tiles at once (through Dash's set_props, so the page's own state agrees with what shows),
// moves the selection on, and queues the action. The queue sends one action at a time
// through the label-key store to the server (callbacks/label.py writes it as one tagging
// event, with the usual checks) and sends the next when the answer comes back in
// label-written; a refused action is taken back on its tiles and the alert says why.
// Undo (z) is queued too, so it undoes the last action given even if that is not yet
// written. When the queue is empty the page's revision is bumped: progress, history and
// the gallery are drawn again from the database.
(function () {
  const NAMESPACE = "beamlabel_label";
  const REDRAW_AFTER_MS = 700;  // a pause in the labeling this long redraws from the database
  // the item a shift-click range starts from: an id, since a redraw replaces the tiles
  let anchor = null;
  // the selected items: kept here, not in the tiles' classes, which a redraw may reset
  let selection = new Set();
  // what the server said of the page shown (callbacks/label.py, _page_state)
  let page = {labels: {}, hotkeys: {}, editable: true, filtered: false, prefetch: []};
  const queue = [];  // actions given but not yet sent, in order
  // A key no class of the page has may be a class's added since the page was drawn: it
  // is sent as it is, and the keys after it wait until its answer says which class it
  // gave (or that none has it), so that each still acts on the tiles it was meant for.
  let unresolved = null;
  const heldKeys = [];
  let sending = null;  // the action the server is writing now
  let lastSeq = 0;
  let revisionBumped = null;  // the revision asked for when the queue last emptied
  let redrawTimer = null;
  const shown = new Map();  // item -> label id (null: none) painted since the last redraw
  let pageItems = "";  // the page's item ids, to tell a new page from a redraw of it
  let selectFirstOnNewPage = false;
  let lastAdvance = true;  // the View menu's "next page when done", as the server last saw it
  let prefetched = [];  // images of the next page, fetched ahead into the browser cache

  function tiles() {
    return Array.from(document.querySelectorAll("#label-grid .thumb-tile"));
  }
  function itemOf(tile) { return parseInt(tile.dataset.item, 10); }
  function tileOf(item) {
    return document.querySelector(`#label-grid .thumb-tile[data-item="${item}"]`);
  }
  function selectedTiles() { return tiles().filter(t => selection.has(itemOf(t))); }
  function setProps(id, props) { window.dash_clientside.set_props(id, props); }
  function showSelection() {
    tiles().forEach(t => t.classList.toggle("selected", selection.has(itemOf(t))));
  }
  function publishSelection() {
    showSelection();
    setProps("label-selection", {data: selectedTiles().map(itemOf)});
  }
  function select(chosen) {
    selection = new Set(chosen.map(itemOf));
    publishSelection();
  }
  function click(id) {
    const button = document.getElementById(id);
    if (button) { button.click(); }
  }
  function typing(target) {
    const tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  function syncText() {
    const waiting = queue.length + (sending ? 1 : 0);
    return waiting ? `saving ${waiting}…` : (lastSeq ? "saved" : "");
  }
  function showSync() { setProps("label-sync", {children: syncText()}); }

  // --- showing a label on a tile, the way callbacks/label.py draws it -------------------
  function labelShown(item) {
    if (shown.has(item)) { return shown.get(item); }
    const tile = tileOf(item);
    return tile && tile.dataset.label ? parseInt(tile.dataset.label, 10) : null;
  }
  function paint(item, labelId) {
    const tile = tileOf(item);
    if (!tile) { return; }  // the page changed meanwhile
    shown.set(item, labelId);
    const label = labelId === null ? null : page.labels[String(labelId)];
    const unreadable = tile.classList.contains("unreadable");
    const style = {width: tile.style.width};
    if (label) { style.borderColor = label.color; }
    setProps({type: "label-tile", index: item}, {style: style, "data-label": label ? labelId : ""});
    const kind = unreadable ? "unreadable" : (label ? "labeled" : "is-name");
    setProps({type: "label-caption", index: item}, {
      children: unreadable ? "unreadable" : (label ? label.name : tile.dataset.name),
      className: `thumb-caption ${kind}`,
      style: label ? {backgroundColor: label.color, color: label.text} : {},
    });
  }

  // --- the queue of actions ------------------------------------------------------------
  function labelOfKey(key) {
    if (key === "unlabel") { return null; }
    if (key.startsWith("label:")) { return parseInt(key.slice(6), 10); }
    return page.hotkeys[key];  // undefined: no class has it (the server says so)
  }
  function nextAfter(items) {
    const all = tiles();
    const last = Math.max(...items.map(i => all.indexOf(tileOf(i))));
    return last + 1 < all.length ? [all[last + 1]] : [];
  }
  function allLabeled() {
    return tiles().every(t => labelShown(itemOf(t)) !== null);
  }

  function act(key) {
    if (unresolved) { heldKeys.push(key); return; }
    const action = {seq: ++lastSeq, key: key, items: [], before: new Map()};
    if (key !== "undo") {
      action.items = selectedTiles().map(itemOf);
      const labelId = labelOfKey(key);
      if (page.editable && action.items.length) {
        if (labelId === undefined) { unresolved = action; } else { show(action, labelId); }
      }
    }
    queue.push(action);
    send();
    showSync();
  }
  function show(action, labelId) {
    // the action's label on its tiles, and the selection moved on past them
    action.items.forEach(item => { action.before.set(item, labelShown(item)); paint(item, labelId); });
    finishedPage(action.items) || select(nextAfter(action.items));
  }
  function resolve(action, answer) {
    // the answer to a key the page did not know: show the class it gave, then the keys held
    unresolved = null;
    const label = answer.ok && answer.hotkey_class;
    if (label) {
      page.labels[String(label.id)] = {name: label.name, color: label.color, text: label.text};
      page.hotkeys[label.hotkey] = label.id;
      show(action, label.id);
    }
  }
  function finishedPage(items) {
    // a page labeled to the end turns by itself (when asked to), with its first tile
    // selected, so that the keys go on; a filtered view is drawn again instead, once the
    // labels are written, since labeled tiles leave it
    if (!advancing() || nextAfter(items).length || !allLabeled()) { return false; }
    selectFirstOnNewPage = true;
    select([]);
    if (!page.filtered) { click("label-next"); }
    return true;
  }
  function advancing() {
    const box = document.getElementById("label-advance");
    return box ? box.checked : lastAdvance;
  }
  function send() {
    if (sending || !queue.length) { return; }
    sending = queue.shift();
    setProps("label-key", {data: {key: sending.key, items: sending.items, seq: sending.seq}});
  }
  function takeBack(action) {
    // later actions still pending keep what they painted
    const later = new Set(queue.flatMap(a => a.items));
    action.before.forEach((labelId, item) => { if (!later.has(item)) { paint(item, labelId); } });
  }

  // --- Dash's side: the answers, and each page shown ---------------------------------------
  function written(answer) {
    // the answer to the action sent: the next one goes out; a refused one is taken back
    if (answer && sending && answer.seq === sending.seq) {
      lastAdvance = answer.advance;
      const wasUnresolved = sending === unresolved;
      if (wasUnresolved) { resolve(sending, answer); } else if (!answer.ok) { takeBack(sending); }
      sending = null;
      send();
      if (wasUnresolved) { heldKeys.splice(0).forEach(act); }
    }
    if (!sending) { redrawWhenIdle(); }
    return syncText();
  }
  function redrawWhenIdle() {
    // Progress, history and the gallery are drawn again from the database once the
    // labeler pauses: one redraw per burst of keys, not one per key, keeps the browser free
    // for the keys themselves.
    clearTimeout(redrawTimer);
    redrawTimer = setTimeout(() => {
      if (sending || queue.length) { return; }
      revisionBumped = Math.max(page.revision || 0, revisionBumped || 0) + 1;
      setProps("label-revision", {data: revisionBumped});
    }, REDRAW_AFTER_MS);
  }
  function whenDrawn(items, then, framesLeft = 120) {
    // Dash hands over a page's state before React has drawn its tiles
    if (tiles().map(itemOf).join(",") === items || framesLeft === 0) { then(); return; }
    requestAnimationFrame(() => whenDrawn(items, then, framesLeft - 1));
  }
  function pageShown(state) {
    if (!state) { return window.dash_clientside.no_update; }
    page = state;
    const items = state.items.join(",");
    const newPage = items !== pageItems;
    pageItems = items;
    const idle = !sending && !queue.length;
    if (newPage || (idle && state.revision >= revisionBumped)) {
      shown.clear();  // drawn from the database, with every label written
    }
    whenDrawn(items, () => {
      showSelection();
      // a redraw that left out actions still on their way shows them again
      [sending, ...queue].filter(Boolean).forEach(action => {
        const labelId = labelOfKey(action.key);
        if (action.before.size) { action.items.forEach(i => paint(i, labelId)); }
      });
      if (newPage && selectFirstOnNewPage && tiles().length) {
        selectFirstOnNewPage = false;
        anchor = itemOf(tiles()[0]);
        select([tiles()[0]]);
      }
      prefetchWhenShown(state.prefetch || []);
    });
    return window.dash_clientside.no_update;
  }
  // The next page's thumbnails are fetched ahead only once the page shown has all of its
  // own: fetched together, they would share the browser's few connections to the server
  // and the page shown would finish later.
  let prefetchTurn = 0;
  function prefetchWhenShown(urls) {
    const turn = ++prefetchTurn;
    const loading = tiles().map(t => t.querySelector("img")).filter(i => i && !i.complete);
    let left = loading.length;
    const start = () => {
      if (turn !== prefetchTurn) { return; }  // another page was shown meanwhile
      prefetchTurn += 1;
      prefetched = urls.map(url => {
        const image = new Image();
        image.src = url;
        return image;
      });
    };
    if (!left) { start(); return; }
    const done = () => { left -= 1; if (!left) { start(); } };
    loading.forEach(image => {
      image.addEventListener("load", done, {once: true});
      image.addEventListener("error", done, {once: true});
    });
  }
  window.dash_clientside = Object.assign(window.dash_clientside || {}, {
    [NAMESPACE]: {written: written, pageShown: pageShown},
  });

  // --- mouse ---------------------------------------------------------------------------
  function buttonAction(target) {
    // the class, Unlabel and Undo buttons of the side panel queue like their keys
    const button = target.closest && target.closest("button");
    if (!button || !document.getElementById("label-grid")) { return null; }
    if (button.id === "label-unlabel") { return "unlabel"; }
    if (button.id === "label-undo") { return "undo"; }
    if (button.id.startsWith("{")) {
      const id = JSON.parse(button.id);
      if (id.type === "label-class-button") { return `label:${id.index}`; }
    }
    return null;
  }

  document.addEventListener("click", function (event) {
    const key = buttonAction(event.target);
    if (key) { act(key); return; }
    const tile = event.target.closest && event.target.closest("#label-grid .thumb-tile");
    if (!tile) { return; }
    const all = tiles();
    const item = itemOf(tile);
    const anchorTile = anchor === null ? null : tileOf(anchor);
    if (event.shiftKey && anchorTile) {
      const [from, to] = [all.indexOf(anchorTile), all.indexOf(tile)].sort((a, b) => a - b);
      if (!(event.ctrlKey || event.metaKey)) { selection.clear(); }
      all.slice(from, to + 1).forEach(t => selection.add(itemOf(t)));
    } else if (event.ctrlKey || event.metaKey) {
      if (!selection.delete(item)) { selection.add(item); }
      anchor = item;
    } else {
      selection = new Set([item]);
      anchor = item;
    }
    publishSelection();
  });

  function openSelected() {
    const chosen = selectedTiles();
    if (chosen.length) {
      setProps("label-open", {data: {item: itemOf(chosen[0]), at: Date.now()}});
    }
  }

  document.addEventListener("dblclick", function (event) {
    const tile = event.target.closest && event.target.closest("#label-grid .thumb-tile");
    if (!tile) { return; }
    anchor = itemOf(tile);
    select([tile]);
    openSelected();
  });

  // --- keyboard ------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("label-grid") || typing(event.target)) { return; }
    // the viewer has its own keys (viewer_keys.js); Escape closes it
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
      else { select([]); }
    }
    else if ((key === "a" || key === "A") && !ctrl) { select(tiles()); }
    else if ((key === "z" || key === "Z") && !event.altKey) { act("undo"); }
    else if (ctrl) { handled = false; }
    else if (/^[1-9]$/.test(key)) { act(key); }
    else if (key === "u" || key === "U") { act("unlabel"); }
    else if ((key === "y" || key === "Y") && document.getElementById("label-suggestion-accept")) {
      setProps("label-accept", {data: {at: Date.now()}});
    }
    else { handled = false; }
    if (handled) { event.preventDefault(); }
  });
})();
