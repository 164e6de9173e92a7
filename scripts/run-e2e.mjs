// Runs the browser tests when Chromium is found. Without it, says so and exits 0, unless
// TOKENKEEPER_REQUIRE_BROWSER=1 (set by CI), which makes a missing browser a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
const chromium = candidates.find((path) => existsSync(path));
const required = process.env.TOKENKEEPER_REQUIRE_BROWSER === '1';

if (!chromium) {
  const message = `browser tests: Chromium not found (looked at ${candidates.join(', ')}; set CHROMIUM_PATH)`;
  if (required) {
    console.error(`${message}, and TOKENKEEPER_REQUIRE_BROWSER=1 makes that a failure`);
    process.exit(1);
  }
  console.log(`${message}: SKIPPING the browser tests. Install it with: apt-get install -y chromium`);
  process.exit(0);
}

console.log(`browser tests: running in ${chromium}`);
const result = spawnSync('npx', ['vitest', 'run', '-c', 'vitest.e2e.config.ts'], {
  stdio: 'inherit',
  env: { ...process.env, CHROMIUM_PATH: chromium },
});
process.exit(result.status ?? 1);
