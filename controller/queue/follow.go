package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Follow replays a boot's messages on the given subjects of the boot
// stream from the start, in order, calling fn for each. Without follow
// it returns once it has replayed what is stored; with it, it waits for
// more until fn says stop or ctx ends.
func (q *Queue) Follow(ctx context.Context, subjects []string, follow bool, fn func(jetstream.Msg) (stop bool)) error {
	cons, err := q.JS.OrderedConsumer(ctx, BootStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("follow %v: %w", subjects, err)
	}
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			if !follow {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("follow %v: %w", subjects, err)
		}
		if fn(msg) {
			return nil
		}
		if md, err := msg.Metadata(); err == nil && md.NumPending == 0 && !follow {
			return nil
		}
	}
	return ctx.Err()
}
