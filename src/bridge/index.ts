// Forward store events to any receiver with `emit(topic, data)`, such as a
// noex-rules engine. Receiver failures never reach the store.
import type { AnyStore, BucketEvent } from '../store/index.js';

export interface EventReceiver {
  emit(topic: string, data: Record<string, unknown>): Promise<unknown> | unknown;
}

export interface BridgeOptions {
  /** Forward only events for which this returns true. */
  readonly filter?: (event: BucketEvent) => boolean;
  /** Rename topics (default: `bucket.<name>.<type>`). */
  readonly mapTopic?: (topic: string, event: BucketEvent) => string;
  /** Transform the payload (default: the event itself). */
  readonly mapData?: (event: BucketEvent) => Record<string, unknown>;
}

/** Returns an async teardown function that stops forwarding. */
export async function bridgeStoreToRules(
  store: AnyStore,
  receiver: EventReceiver,
  options: BridgeOptions = {},
): Promise<() => Promise<void>> {
  const { filter, mapTopic, mapData } = options;
  return store.on<BucketEvent>('bucket.*.*', (event, topic) => {
    try {
      if (filter !== undefined && !filter(event)) return;
      const finalTopic = mapTopic !== undefined ? mapTopic(topic, event) : topic;
      const data = mapData !== undefined ? mapData(event) : (event as unknown as Record<string, unknown>);
      const r = receiver.emit(finalTopic, data);
      // Any thenable (also a promise from another realm, which is not `instanceof Promise`).
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function')
        (r as PromiseLike<unknown>).then(undefined, () => {});
    } catch {
      // Fire-and-forget: a failing receiver or mapper must not affect the store.
    }
  });
}
