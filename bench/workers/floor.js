// Baseline: the Hono floor. A Hono app answering 200 with the same handler as the jose-hono and
// edgeAuth Workers, and nothing else: what a request costs before any authentication.
import { Hono } from 'hono';

const app = new Hono();
app.all('*', () => new Response('ok'));

export default app;
