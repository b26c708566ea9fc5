'use strict';
// Preloaded (`node -r`) into a benchmark's child: prints its peak RSS on exit, for the parent to read.
process.on('exit', () => {
  process.stderr.write(`\n@@peak-rss-kb ${process.resourceUsage().maxRSS}\n`);
});
