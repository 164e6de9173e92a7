// How the browser tests and the benchmarks launch Chromium: Debian's build through playwright-core, with flags
// that keep it off the network it cannot reach here and keep background pages' timers running.

/** Where Chromium is: `CHROMIUM_PATH`, else Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Several pages of one context are open at once. These flags keep Chromium from throttling the timers of
 * pages in the background, which would delay their proactive refreshes. Headless Chromium 156 reports every
 * page visible and focused and the tests pass without them; they are insurance for headed runs and for
 * headless modes that background pages.
 */
export const ANTI_THROTTLING_ARGS = [
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/** The options of `chromium.launch()`: no sandbox (root), no GPU, no background networking, no QUIC. */
export const CHROMIUM_LAUNCH_OPTIONS = {
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    ...ANTI_THROTTLING_ARGS,
  ],
};
