// Command local runs Payment Pet Functions on one machine, standing in for
// OpenFaaS (gateway, Kafka connector, cron connector) without Docker:
//
//	go run ./local run                      # the whole stack (make run)
//	go run ./local dlq list [topic.dlq]     # dead letters, with why they died
//	go run ./local dlq replay [topic.dlq]   # send each back to its topic, once
//	go run ./local kafka                    # the stack's Kafka: leaders, in-sync replicas, consumer groups
//
// Settings come from the environment: DATABASE_URL and KAFKA_BROKERS use
// existing services instead of the private ones; LOCAL_STATE_DIR (.local,
// one running stack at a time), GATEWAY_ADDR, UI_PORT, LOCAL_PG_PORT,
// LOCAL_KAFKA_PORTS, NO_UI, GATEWAY_CALLBACK_HOSTS; and any variable a
// function declares in stack.yml (PAYMENT_PROVIDER_MAX_DELAY=0, say)
// overrides it. The running stack's addresses are in
// LOCAL_STATE_DIR/stack.env, which dlq and kafka read.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"handler/function/local/connector"
	"handler/function/local/kafkacluster"
	"handler/function/local/runner"
)

func main() {
	runner.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		args = []string{"run"}
	}
	cfg, err := runner.ConfigFromEnv()
	if err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return runStack(ctx, cfg)
	case "dlq":
		return deadLetters(ctx, cfg, args[1:])
	case "kafka":
		return kafkaStatus(ctx, cfg)
	default:
		return fmt.Errorf("unknown command %q (want run, dlq or kafka)", args[0])
	}
}

func runStack(ctx context.Context, cfg runner.Config) error {
	s, err := runner.Start(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	return s.Run(ctx, func() {
		fmt.Printf("\nPayment Pet Functions is running (Ctrl-C stops it)\n")
		if cfg.UI {
			fmt.Printf("  UI:        http://localhost:%d  (System page: /system, as admin with the password below)\n", cfg.UIPort)
		}
		fmt.Printf("  gateway:   %s  (events: %s/system/events)\n", s.GatewayURL, s.GatewayURL)
		fmt.Printf("  kafka:     %s\n", strings.Join(s.Brokers, ","))
		fmt.Printf("  postgres:  %s\n", s.DatabaseURL)
		fmt.Printf("  API key:   %s  (send Authorization: Bearer <key>; kept in %s/secrets/payments-api-key)\n", s.APIKey, cfg.StateDir)
		fmt.Printf("  admin:     /system/* needs basic auth as admin: faas-cli login -g %s -u admin --password-stdin < %s/secrets/basic-auth-password\n", s.GatewayURL, cfg.StateDir)
		fmt.Printf("  other terminals: . %s  (sets GATEWAY_URL, KAFKA_BROKERS, DATABASE_URL, LOCAL_STATE_DIR)\n\n", relative(cfg.Root, filepath.Join(cfg.StateDir, runner.StateFile)))
	})
}

// relative is path relative to the project's folder when it lies inside it.
func relative(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// deadLetters lists or replays the dead letters of a topic (both by default).
func deadLetters(ctx context.Context, cfg runner.Config, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return fmt.Errorf("usage: dlq list|replay [topic.dlq ...]")
	}
	brokers, from := stackBrokers(cfg)
	topics := args[1:]
	if len(topics) == 0 {
		topics = []string{"payments.dlq", "paymentsResults.dlq"}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, topic := range topics {
		var err error
		if args[0] == "list" {
			err = listDeadLetters(ctx, brokers, topic)
		} else {
			var n int
			n, err = connector.ReplayDeadLetters(ctx, brokers, topic)
			if err == nil || n > 0 {
				fmt.Printf("%s: sent %d dead letter(s) back to their topic\n", topic, n)
			}
		}
		if errors.Is(err, connector.ErrUnreachable) {
			return fmt.Errorf("%w\n  (brokers from %s) Is the stack running? Start it with `make run`; with a Kafka of your own, set KAFKA_BROKERS", err, from)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func listDeadLetters(ctx context.Context, brokers []string, topic string) error {
	letters, err := connector.ListDeadLetters(ctx, brokers, topic)
	if err != nil {
		return err
	}
	waiting := 0
	for _, l := range letters {
		fmt.Println(l.Text())
		if !l.Replayed {
			waiting++
		}
	}
	fmt.Printf("%s: %d dead letter(s), %d not replayed yet\n", topic, len(letters), waiting)
	return nil
}

// kafkaStatus prints what the stack's Kafka says about itself, embedded or real.
func kafkaStatus(ctx context.Context, cfg runner.Config) error {
	brokers, from := stackBrokers(cfg)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	fmt.Printf("kafka at %s (from %s)\n", strings.Join(brokers, ","), from)
	if err := kafkacluster.WriteStatus(ctx, os.Stdout, brokers); err != nil {
		return fmt.Errorf("%w\n  Is the stack running? Start it with `make run`; with a Kafka of your own, set KAFKA_BROKERS", err)
	}
	return nil
}

// stackBrokers finds Kafka: KAFKA_BROKERS, else the running stack's (its state
// file), else the embedded cluster's ports. It also says where they came from.
func stackBrokers(cfg runner.Config) ([]string, string) {
	if len(cfg.KafkaBrokers) > 0 {
		return cfg.KafkaBrokers, "KAFKA_BROKERS"
	}
	if state, err := runner.ReadState(cfg.StateDir); err == nil && state["KAFKA_BROKERS"] != "" {
		return strings.Split(state["KAFKA_BROKERS"], ","), filepath.Join(cfg.StateDir, runner.StateFile)
	}
	var brokers []string
	for _, p := range cfg.KafkaPorts {
		brokers = append(brokers, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return brokers, "the embedded Kafka's ports, LOCAL_KAFKA_PORTS"
}
