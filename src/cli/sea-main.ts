/**
 * cli/sea-main — the entry point of the single executable (scripts/build-binary.mjs bundles
 * it into one CommonJS script, the form Node 20's SEA runs). It is bin/mta for the binary:
 * the same `mta` with every command, `mta start` included. It must never be imported by
 * the program itself: loading it runs the command line.
 *
 * A SEA's process.argv has the npm install's shape ([executable, argv0, ...arguments]),
 * so commander reads it as it reads `node bin/mta ...`.
 */
import { run } from './main.js';

void run(process.argv);
