// @ts-check
// Local processes the tools start (wrangler dev, the demo issuer, load tests): free loopback
// ports, signals to a whole process group, so nothing they spawned is left behind, and a watch
// on whoever started us, so nothing outlives them either.
//
//   const port = await freePort();
//   signalGroup(child.pid, 'SIGTERM');  if (!groupAlive(child.pid)) ...
//   watchStarters(() => shutdown());   // our parent died, or npm's parent did
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/**
 * Calls `onGone` once, when the process that started this one dies, or, under `npm run` (npm's
 * own parent is who the user sees as having started us), when npm's parent dies. Nobody signals
 * us then: npm passes on only SIGINT and SIGTERM, and only to its own child, and an orphan is
 * just re-parented. So the watch is a poll for a changed parent pid, every `intervalMs`; the
 * timer is unref'd and keeps nothing alive.
 * @param {() => void} onGone @param {{ intervalMs?: number }} [options]
 */
export function watchStarters(onGone, options = {}) {
  /** Each watched pid with the parent it had at the start; pid 1 and below have none to lose. */
  const watched = [{ pid: process.pid, parent: process.ppid }];
  if (process.env.npm_lifecycle_event !== undefined && process.ppid > 1) {
    const npmParent = parentOf(process.ppid);
    if (npmParent !== null && npmParent > 1) watched.push({ pid: process.ppid, parent: npmParent });
  }
  const timer = setInterval(() => {
    if (watched.every(({ pid, parent }) => (pid === process.pid ? process.ppid : parentOf(pid)) === parent)) return;
    clearInterval(timer);
    onGone();
  }, options.intervalMs ?? 500);
  timer.unref();
}

/** The parent pid of a process, or null when it is gone. @param {number} pid @returns {number | null} */
function parentOf(pid) {
  try {
    // Linux: the field after the parenthesized command name (which may itself hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT' && process.platform === 'linux') return null;
  }
  try {
    const ppid = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' }).trim());
    return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
  } catch {
    return null; // ps exits 1 when the pid is gone
  }
}
