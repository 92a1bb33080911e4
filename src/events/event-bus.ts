// Topic-based publish/subscribe with `*` wildcards. Delivery is deferred to
// a microtask so that a handler never runs inside a write, and a handler
// that throws (or rejects) never affects the write or other handlers.

export type EventHandler<E = any> = (event: E, topic: string) => void | Promise<void>;

interface Subscription {
  readonly segments: readonly string[] | undefined; // undefined: matches every topic
  readonly handler: EventHandler;
}

export class EventBus {
  readonly #subs = new Set<Subscription>();
  readonly #onHandlerError: (error: unknown, topic: string) => void;
  #queue: Array<[string, unknown]> = [];
  #scheduled = false;
  #idle: Array<() => void> = [];

  constructor(onHandlerError: (error: unknown, topic: string) => void = () => {}) {
    this.#onHandlerError = onHandlerError;
  }

  get subscriptionCount(): number {
    return this.#subs.size;
  }

  /**
   * Subscribe to topics matching `pattern`: segments separated by `.`, where
   * `*` matches exactly one segment; the pattern `*` alone matches everything.
   */
  subscribe(pattern: string, handler: EventHandler): () => void {
    if (typeof pattern !== 'string' || pattern === '')
      throw new TypeError('Event pattern must be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError('Event handler must be a function');
    const sub: Subscription = { segments: pattern === '*' ? undefined : pattern.split('.'), handler };
    this.#subs.add(sub);
    return () => {
      this.#subs.delete(sub);
    };
  }

  /** Whether anyone listens to `topic` (lets writers skip building payloads). */
  hasSubscribers(): boolean {
    return this.#subs.size > 0;
  }

  publish(topic: string, event: unknown): void {
    if (this.#subs.size === 0) return;
    this.#queue.push([topic, event]);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#drain());
    }
  }

  /** Resolves when every published event has been handed to its handlers. */
  async drained(): Promise<void> {
    if (!this.#scheduled) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #drain(): void {
    while (this.#queue.length > 0) {
      const queue = this.#queue;
      this.#queue = [];
      for (const [topic, event] of queue) this.#deliver(topic, event);
    }
    this.#scheduled = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  #deliver(topic: string, event: unknown): void {
    let parts: string[] | undefined;
    for (const sub of this.#subs) {
      if (sub.segments !== undefined) {
        parts ??= topic.split('.');
        if (!matches(sub.segments, parts)) continue;
      }
      try {
        const r = sub.handler(event, topic);
        if (r !== undefined && typeof (r as Promise<void>).catch === 'function') {
          (r as Promise<void>).catch((e) => this.#onHandlerError(e, topic));
        }
      } catch (e) {
        this.#onHandlerError(e, topic);
      }
    }
  }

  clear(): void {
    this.#subs.clear();
  }
}

function matches(pattern: readonly string[], topic: readonly string[]): boolean {
  if (pattern.length !== topic.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*' && pattern[i] !== topic[i]) return false;
  }
  return true;
}
