// Acknowledges a live tick once the browser has painted it (two animation frames after its data
// arrived, and after every element the tick drew before it): the trigger reruns the live
// fragment, so the next tick starts when the browser has caught up. Once per tick.
const acked = {};
export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || !data.active || acked[data.key] === data.tick) return;
  acked[data.key] = data.tick;
  requestAnimationFrame(() => requestAnimationFrame(() => setTriggerValue("drawn", data.tick)));
}
