const LOADING = "__wlraPlotlyLoading";

function loadPlotly(source) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (window[LOADING]) return window[LOADING];
  if (!source) return null;
  window[LOADING] = new Promise((resolve) => {
    const script = document.createElement("script");
    script.textContent = source;
    document.head.appendChild(script);
    resolve(window.Plotly);
  });
  return window[LOADING];
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !data.figure) return;
  let div = parentElement.querySelector("div.wlra-live-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "wlra-live-chart";
    div.style.width = "100%";
    parentElement.appendChild(div);
  }
  div.style.height = data.height + "px";
  div.dataset.revision = String(data.revision);
  const figure = JSON.parse(data.figure);
  const draw = () => {
    window.Plotly.react(div, figure.data, figure.layout, data.config);
    div.dataset.drawn = String(data.revision);
  };
  // Acknowledge only when Python sent the source (then it stops sending it): a state change
  // triggers a rerun, so it must not happen on every update.
  const ack = () => { if (data.plotly_js) setStateValue("plotly_ready", true); };
  if (window.Plotly) {
    draw();
    ack();
    return;
  }
  const loading = loadPlotly(data.plotly_js);
  if (loading) loading.then(() => { draw(); ack(); });
}
