// The public surface of pgnudge: re-exports only.
export type { PluginChoice, PluginName } from './decode/change.js';
export * from './errors.js';
export { NotifyBridge, type NotifyBridgeOptions } from './fanout/bridge.js';
export { BrokerFeed, type BrokerFeedOptions } from './fanout/broker-feed.js';
export { NotifyFeed, type NotifyFeedOptions } from './fanout/notify-feed.js';
export type { DropReason } from './fanout/tracker.js';
export type { PartitionNaming } from './feed/catalog.js';
export {
  FEED_CHANNEL_NAMES,
  type FeedBackoffMessage,
  type FeedBatchMessage,
  type FeedCloseMessage,
  type FeedConnectMessage,
  type FeedDisconnectMessage,
  type FeedLiveMessage,
  type FeedResyncMessage,
} from './feed/diagnostics.js';
export type { Feed } from './feed/feed.js';
export { Batch, type FeedItem, NudgeEvent, Resync, type ResyncReason } from './feed/items.js';
export type { RawFeedOptions, WalFeedOptions } from './feed/options.js';
export { RawFeed } from './feed/raw-feed.js';
export { formatKey, parseKey } from './feed/row-key.js';
export type { FeedErrorSummary, FeedState, FeedStats } from './feed/stats.js';
export { WalFeed } from './feed/wal-feed.js';
export { SSE_CHANNEL_NAMES, type SseDropMessage, type SseStreamMessage } from './http/diagnostics.js';
export { EventHub, type EventHubOptions, type SubscribeOptions } from './http/event-hub.js';
export { type EventStreamOptions, toEventStream } from './http/event-stream.js';
export type { HubCounters } from './http/hub-core.js';
export type { ClosableFeed, EventStreamTimingOptions } from './http/options.js';
export { EVENT_STREAM_HEADERS } from './http/sse.js';
export type { Logger, LogThreshold } from './logger.js';
export type {
  ChannelBindingMode,
  ConnectionOptions,
  PasswordSource,
  SslMode,
  SslNegotiation,
} from './transport/settings.js';
