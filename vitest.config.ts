import { defineConfig } from 'vitest/config';

// `import … from 'quire'` inside this repository resolves to src/ (the
// `quire-source` export condition), so tests written against the package
// name run without a build.
const conditions = ['quire-source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
