// Presses this page's Play/Pause, Step or Reset button for a key: a real click, so the click
// recorder numbers it like a mouse click. Labels the mask canvas (an iframe) for screen readers.
export default function (component) {
  const { data } = component;
  if (!data) return;
  window.__wlraShortcuts = data;
  if (!window.__wlraShortcutsOn) {
    window.__wlraShortcutsOn = true;
    document.addEventListener("keydown", (event) => {
      const d = window.__wlraShortcuts;
      const t = event.target;
      if (!d || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      const name = d.keys[event.key.toLowerCase()];
      if (!name) return;
      const button = document.querySelector(`.st-key-${d.prefix}_${name} button`);
      if (!button || button.disabled) return;
      event.preventDefault();
      button.click();
    });
  }
  if (data.canvas_label) {
    // the drawing canvas lives in the component's shadow root, under the widget's st-key class
    const walk = (root, found) => {
      root.querySelectorAll("canvas.upper-canvas").forEach((c) => found.push(c));
      root.querySelectorAll("*").forEach((e) => { if (e.shadowRoot) walk(e.shadowRoot, found); });
      return found;
    };
    const label = () => document.querySelectorAll(`[class*="st-key-${data.canvas_key}"]`).forEach((box) =>
      walk(box, []).forEach((c) => { c.setAttribute("role", "img"); c.setAttribute("aria-label", data.canvas_label); }));
    label();   // and again every 2 s: the canvas mounts later, and remounts after Clear
    if (!window.__wlraCanvasLabel) window.__wlraCanvasLabel = setInterval(() => {
      const d = window.__wlraShortcuts;
      if (d && d.canvas_label) document.querySelectorAll(`[class*="st-key-${d.canvas_key}"]`).forEach((box) =>
        walk(box, []).forEach((c) => { c.setAttribute("role", "img"); c.setAttribute("aria-label", d.canvas_label); }));
    }, 2000);
  }
}
