// Numbers every click on a page's Play/Pause, Step and Reset buttons (Streamlit keys <prefix>_play,
// _step, _reset), with what it asked for: "play" or "pause" is the label the user clicked, not
// the one the server drew last. The last CLICK_LOG clicks go to the server as one state value,
// which Streamlit sends with every later event: clicks it merges or drops still arrive, in order.
// One listener per tab; logs live on window, so that a re-imported module keeps counting, and
// restart when the server's session (epoch) changes.
const store = (window.__wlraClickRecorder ??= { logs: {}, send: {}, listening: false });
function kindOf(button, prefix) {
  if (button.closest(`.st-key-${prefix}_step`)) return "step";
  if (button.closest(`.st-key-${prefix}_reset`)) return "reset";
  if (button.closest(`.st-key-${prefix}_play`)) return button.textContent.includes("Pause") ? "pause" : "play";
  return null;
}
function record(event) {
  const button = event.target instanceof Element ? event.target.closest("button") : null;
  if (!button || button.disabled) return;   // Streamlit ignores a disabled button: so do we
  for (const [prefix, send] of Object.entries(store.send)) {
    const kind = kindOf(button, prefix);
    if (!kind) continue;
    const log = store.logs[prefix];
    log.n += 1;
    log.entries = [...log.entries, [log.n, kind]].slice(-LOG_LENGTH);
    send("clicks", { epoch: log.epoch, log: log.entries });
  }
}
export default function (component) {
  const { data, setStateValue } = component;
  if (!data) return;
  if (store.logs[data.prefix]?.epoch !== data.epoch) store.logs[data.prefix] = { epoch: data.epoch, n: 0, entries: [] };
  store.send[data.prefix] = setStateValue;
  if (!store.listening) {
    // Capture phase: before Streamlit's own handler, so the state value and the button's event
    // leave in the same batch.
    document.addEventListener("click", record, true);
    store.listening = true;
  }
}
