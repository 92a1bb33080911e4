// vitest globalSetup: one throwaway PostgreSQL cluster for the whole run.
// Tests reach it through `inject('pgUrl')` (each test uses its own schema or
// database); tests that stop or crash the server start their own cluster.
import type { TestProject } from 'vitest/node';
import { type PgCluster, startCluster } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

let cluster: PgCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  cluster = await startCluster();
  project.provide('pgUrl', cluster.url);
}

export function teardown(): void {
  cluster?.stop();
  cluster = undefined;
}
