// Baseline for the gateway on a repeated token: forwards every request to the same origin the
// gateway uses (the stand-in, test/fixtures/issuer-worker.js, in the same workerd process), no auth.
export default {
  fetch(request) {
    const url = new URL(request.url);
    return fetch(new Request(`https://origin.bench.test${url.pathname}${url.search}`, request));
  },
};
