// Entry point of the `quire` binary.
import { main } from './main.js';

const code = await main(process.argv.slice(2));
// `serve` never gets here (it exits on a signal or the end of stdin).
process.exit(code);
