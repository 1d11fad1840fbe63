// @ts-check
// Runs one command inside this process's own group and ends that whole group when the parent
// goes away, however it goes (Ctrl-C, a killed test worker): the parent holds our stdin open,
// and the kernel closes it when the parent dies, even on SIGKILL. Then `--remove DIR` (the
// scratch state the parent would have deleted) is removed too.
//
//   spawn(process.execPath, [guard, '--remove', scratch, command, ...args], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
//   process.kill(-child.pid, 'SIGTERM');   // the parent's own way to stop everything
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

const argv = process.argv.slice(2);
const remove = argv[0] === '--remove' ? argv[1] : undefined;
const [command, ...args] = remove === undefined ? argv : argv.slice(2);
if (command === undefined) {
  console.error('usage: process-group-guard.mjs [--remove DIR] <command> [args...]');
  process.exit(2);
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let orphaned = false;
child.on('exit', (code, signal) => {
  if (orphaned) finish();
  else process.exit(code ?? (signal ? 1 : 0));
});

function onOrphaned() {
  if (orphaned) return;
  orphaned = true;
  // Outlive our own SIGTERM: the group's SIGKILL and the cleanup still have to happen.
  process.on('SIGTERM', () => {});
  try { process.kill(-process.pid, 'SIGTERM'); } catch { /* the group is already gone */ }
  setTimeout(finish, 3_000);
}

/** Removes the scratch directory, then SIGKILLs whatever is left of the group, ourselves included. */
function finish() {
  if (remove !== undefined) {
    try { rmSync(remove, { recursive: true, force: true }); } catch { /* a straggler still writes: leave it */ }
  }
  try { process.kill(-process.pid, 'SIGKILL'); } catch { /* gone */ }
  process.exit(1);
}

process.stdin.on('end', onOrphaned);
process.stdin.on('error', onOrphaned);
process.stdin.resume();
