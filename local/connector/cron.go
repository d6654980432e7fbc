package connector

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"handler/function/local/stack"
)

// cronJob invokes one function on its schedule, the way the OpenFaaS
// cron-connector does, and never runs two calls of it at once: a tick that
// finds the previous call still running is skipped.
type cronJob struct {
	fn      string
	when    string // the schedule, for logs
	inv     *invoker
	ctx     context.Context // ends at the drain timeout
	log     *slog.Logger
	running sync.Mutex
	skipped atomic.Int64
}

func (j *cronJob) Run() {
	if !j.running.TryLock() {
		j.skipped.Add(1)
		j.log.Info("cron tick skipped: previous call still running")
		return
	}
	defer j.running.Unlock()

	h := http.Header{}
	h.Set("X-Topic", stack.CronTopic)
	h.Set("X-Connector", cronConnectorName)
	res := j.inv.call(j.ctx, j.fn, nil, h)
	switch {
	case j.ctx.Err() != nil:
		j.log.Warn("cron call abandoned at shutdown")
	case res.ok():
		j.log.Debug("cron call done", "status", res.status)
	default:
		// Like the cron-connector, no retry: the next tick is the retry.
		j.log.Warn("cron call failed", "result", res.String())
	}
}

// everySchedule fires at a fixed interval; unlike cron.Every it allows
// sub-second intervals.
type everySchedule time.Duration

func (e everySchedule) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// cronRunner invokes the scheduled functions until ctx ends.
type cronRunner struct {
	cfg  Config
	inv  *invoker
	jobs map[string]*cronJob
	cron *cron.Cron
	ctx  context.Context
	stop context.CancelFunc
}

func newCronRunner(cfg Config, inv *invoker, fns []stack.Function) (*cronRunner, error) {
	ctx, stop := context.WithCancel(context.Background())
	r := &cronRunner{cfg: cfg, inv: inv, jobs: map[string]*cronJob{}, cron: cron.New(), ctx: ctx, stop: stop}
	for _, fn := range fns {
		var sched cron.Schedule = everySchedule(cfg.CronEvery)
		when := "every " + cfg.CronEvery.String()
		if cfg.CronEvery <= 0 {
			when = fn.Schedule()
			s, err := cron.ParseStandard(fn.Schedule())
			if err != nil {
				stop()
				return nil, fmt.Errorf("function %s: schedule %q: %w", fn.Name, fn.Schedule(), err)
			}
			sched = s
		}
		job := &cronJob{fn: fn.Name, when: when, inv: inv, ctx: ctx,
			log: cfg.Logger.With("component", "connector", "function", fn.Name)}
		r.jobs[fn.Name] = job
		r.cron.Schedule(sched, job)
	}
	return r, nil
}

func (r *cronRunner) run(ctx context.Context) {
	defer r.stop()
	for _, j := range r.jobs {
		j.log.Info("cron scheduled", "schedule", j.when)
	}
	r.cron.Start()
	<-ctx.Done()
	done := r.cron.Stop().Done()
	timer := time.NewTimer(r.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		r.stop()
		<-done
	}
}
