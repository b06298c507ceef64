// Builds the adapter named by `sink.type`. Adapters are imported lazily so a service only loads
// the driver of the store it writes to.
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { Sink } from './sink.ts';
import type { SinkSpec } from './config.ts';

/** `kafka`: the cluster the sink consumes from (the Kafka forwarding sink's source side). */
export async function createSink(name: string, spec: SinkSpec, kafka?: KafkaConfig): Promise<Sink> {
  switch (spec.type) {
    case 'postgres': {
      const { PostgresSink } = await import('../postgres/sink.ts');
      return new PostgresSink(name, spec);
    }
    case 'redis': {
      const { RedisSink } = await import('../redis/sink.ts');
      return new RedisSink(name, spec);
    }
    case 'clickhouse': {
      const { ClickhouseSink } = await import('../clickhouse/sink.ts');
      return new ClickhouseSink(name, spec);
    }
    case 'search': {
      const { SearchSink } = await import('../search/sink.ts');
      return new SearchSink(name, spec);
    }
    case 'kafka': {
      const { KafkaForwardSink } = await import('../kafka/sink.ts');
      return new KafkaForwardSink(name, spec, kafka);
    }
    case 's3-parquet': {
      const { S3ParquetSink } = await import('../s3-parquet/sink.ts');
      return new S3ParquetSink(name, spec, undefined, kafka ? { kafka } : {});
    }
  }
}
