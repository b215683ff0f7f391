// The raw value under the pointer in the full-resolution viewer. The figure
// (callbacks/viewer_figure.py) puts the image on axes in raw pixel coordinates and names
// the item and its size in layout.meta; the pointer's place on the axes gives the pixel,
// and its value is read at full resolution from GET /api/v1/items/<id>/pixels, a block of
// BLOCK x BLOCK pixels at a time, so moving within a block asks the server nothing.
(function () {
  const BLOCK = 64;
  const KEPT_BLOCKS = 256;
  const blocks = new Map();  // "item:x:y" -> promise of the block's answer
  let latest = 0;  // the newest hover; older answers arriving later are not shown

  function show(text) {
    window.dash_clientside.set_props("label-viewer-readout", {children: text});
  }
  function block(item, x, y) {
    const key = `${item}:${x}:${y}`;
    if (!blocks.has(key)) {
      if (blocks.size >= KEPT_BLOCKS) { blocks.delete(blocks.keys().next().value); }
      const url = `/api/v1/items/${item}/pixels?x=${x}&y=${y}&width=${BLOCK}&height=${BLOCK}`;
      blocks.set(key, fetch(url, {credentials: "same-origin"}).then(async answer => {
        const body = await answer.json();
        if (!answer.ok) { blocks.delete(key); throw new Error(body.error || answer.statusText); }
        return body;
      }));
    }
    return blocks.get(key);
  }
  function formatted(value) {
    return String(value);  // a number's shortest exact form; 'NaN', 'Infinity' as sent
  }

  // The pixel under the pointer, from the plot area's place on screen and the axes' ranges
  // (plotly keeps layout.*axis.range current through zoom and pan); the y axis is reversed,
  // so its range runs from the bottom edge to the top one.
  function pixelAt(area, layout, event) {
    const box = area.getBoundingClientRect();
    const [left, right] = layout.xaxis.range, [bottom, top] = layout.yaxis.range;
    const x = left + (event.clientX - box.left) / box.width * (right - left);
    const y = top + (event.clientY - box.top) / box.height * (bottom - top);
    return [Math.floor(x + 0.5), Math.floor(y + 0.5)];
  }

  function showValue(plot, area, event) {
    const meta = plot.layout.meta || {};
    if (!plot.layout.xaxis || !plot.layout.xaxis.range) { return; }
    const [x, y] = pixelAt(area, plot.layout, event);
    const hover = ++latest;
    if (!(x >= 0 && y >= 0 && x < meta.width && y < meta.height)) { show(""); return; }
    const left = x - x % BLOCK, top = y - y % BLOCK;
    block(meta.item, left, top).then(answer => {
      if (hover !== latest) { return; }
      const value = answer.values[y - top][x - left];
      show(`x ${x}  y ${y}  value ${formatted(value)} (raw ${answer.dtype})`);
    }).catch(error => { if (hover === latest) { show(`no value: ${error.message}`); } });
  }

  let pending = null;  // the newest pointer move not yet read, one read per frame
  document.addEventListener("mousemove", function (event) {
    const area = event.target.closest && event.target.closest("#label-viewer-graph .nsewdrag");
    if (!area) { return; }
    const plot = area.closest(".js-plotly-plot");
    if (pending === null) {
      window.requestAnimationFrame(() => { showValue(plot, area, pending); pending = null; });
    }
    pending = event;
  });
})();
