import { defineConfig } from 'vitest/config';

// `import … from 'quiredb'` inside this repository resolves to src/ (the
// `quiredb-source` export condition), so tests written against the package
// name run without a build.
const conditions = ['quiredb-source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    // A throwaway PostgreSQL cluster for the PostgreSQL adapter tests (test/postgres/cluster.ts).
    globalSetup: ['test/postgres/global-setup.ts'],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
