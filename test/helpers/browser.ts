/**
 * Headless Chromium for tests of the web pages berthd's services serve: Debian's chromium
 * (/usr/bin/chromium, installed by scripts/setup) driven by playwright-core.
 */
import { writeFile } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
}

/**
 * Waits until the rendered text of the elements matching `within` (default the whole body) contains
 * `text`, reloading the page every `reloadEveryMs` (a page that lists what a server holds need not
 * poll for it). On timeout, saves a screenshot and the page's text next to it and throws with both
 * named and the page's text in the message.
 */
export async function waitForPageText(
  page: Page,
  text: string,
  opts: { within?: string; timeoutMs: number; reloadEveryMs: number; screenshotFile: string },
): Promise<void> {
  const textOf = async (selector: string): Promise<string> => {
    const texts = await page
      .locator(selector)
      .allInnerTexts()
      .catch(() => [] as string[]);
    return texts.join('\n');
  };
  const deadline = Date.now() + opts.timeoutMs;
  let nextReload = Date.now() + opts.reloadEveryMs;
  for (;;) {
    if ((await textOf(opts.within ?? 'body')).includes(text)) return;
    if (Date.now() >= deadline) break;
    if (Date.now() >= nextReload) {
      await page.reload({ waitUntil: 'load', timeout: 30_000 }).catch(() => undefined);
      nextReload = Date.now() + opts.reloadEveryMs;
    } else {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const last = await textOf('body');
  await page.screenshot({ path: opts.screenshotFile, fullPage: true }).catch(() => undefined);
  await writeFile(`${opts.screenshotFile}.txt`, last).catch(() => undefined);
  throw new Error(
    `"${text}" did not appear${opts.within ? ` in ${opts.within}` : ''} on ${page.url()} within ${opts.timeoutMs} ms; ` +
      `screenshot ${opts.screenshotFile}; the page's text:\n${last}`,
  );
}
