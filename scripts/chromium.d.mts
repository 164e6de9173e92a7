/** Types of scripts/chromium.mjs, for the browser tests. */
export declare const CHROMIUM_PATH: string;
export declare const ANTI_THROTTLING_ARGS: string[];
export declare const CHROMIUM_LAUNCH_OPTIONS: { executablePath: string; headless: boolean; args: string[] };
