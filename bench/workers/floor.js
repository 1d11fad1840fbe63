// Baseline: the floor. Answers 200 and does nothing else.
export default {
  fetch: () => new Response('ok'),
};
