// @ts-check
// Local processes the tools start (wrangler dev, the demo issuer, load tests): free loopback
// ports, and signals to a whole process group, so nothing they spawned is left behind.
//
//   const port = await freePort();
//   signalGroup(child.pid, 'SIGTERM');  if (!groupAlive(child.pid)) ...
import { createServer } from 'node:net';

/** A port the kernel just handed out and took back: free unless another process races for it.
 *  @returns {Promise<number>} */
export function freePort() {
  return new Promise((found, failed) => {
    const server = createServer();
    server.once('error', failed);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? found(address.port) : failed(new Error('no port'))));
    });
  });
}

/** Sends a signal to every process in the group; a group that has ended already is fine.
 *  @param {number} group  @param {NodeJS.Signals | 0} signal */
export function signalGroup(group, signal) {
  try {
    process.kill(-group, signal);
  } catch {
    // ESRCH: the group has already ended.
  }
}

/** @param {number} group  @returns {boolean} */
export function groupAlive(group) {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}
