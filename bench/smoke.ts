import { sweep } from '/work/main/bench/forwarding.ts';
const v = (process.argv[2] ?? 'bare') as 'bare' | 'huizhen';
const r = await sweep(v, process.argv[3] === 'srtp', (l) => console.log(l));
console.log(JSON.stringify({ ...r, steps: undefined }, null, 1));
process.exit(0);
