import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const NONE: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A cli-progress bar on stderr, `label [#####.....] 12/40 (30%) eta 4s`, drawn only when stderr
 * is a terminal and the output is for people: never with --json, never into a pipe or a file
 * (scripts and CI logs get the result lines only).
 */
export function progressBar(label: string, options: { json: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.json || !stream.isTTY) return NONE;
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {value}/{total} ({percentage}%) eta {eta_formatted}`,
    barCompleteChar: '#',
    barIncompleteChar: '.',
    barsize: 30,
    // the cursor stays visible: a killed run must not leave the terminal without one
    hideCursor: false,
    clearOnComplete: false,
    fps: 10,
  });
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
