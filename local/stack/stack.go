// Package stack reads an OpenFaaS stack.yml: the single source of truth for the
// functions' names, images, environment, secrets, labels and annotations that the
// local runner, its gateway and connector, and the manifest checks all use.
package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Stack is the part of a stack.yml this project uses.
type Stack struct {
	Version       string              `yaml:"version"`
	Provider      Provider            `yaml:"provider"`
	Functions     map[string]Function `yaml:"functions"`
	Configuration Configuration       `yaml:"configuration"`
}

// Provider names the gateway faas-cli deploys to.
type Provider struct {
	Name    string `yaml:"name"`
	Gateway string `yaml:"gateway"`
}

// Function is one entry of the functions map; Name is filled from its key.
type Function struct {
	Name        string            `yaml:"-"`
	Lang        string            `yaml:"lang"`
	Handler     string            `yaml:"handler"`
	Image       string            `yaml:"image"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	// ReadOnlyRootFilesystem, Requests and Limits are what faas-netes gives the function's
	// container: a read-only root with a writable /tmp, and its resource requests and limits.
	ReadOnlyRootFilesystem bool      `yaml:"readonly_root_filesystem"`
	Requests               Resources `yaml:"requests"`
	Limits                 Resources `yaml:"limits"`
}

// Resources are a function's memory and CPU in Kubernetes quantities ("64Mi", "100m").
type Resources struct {
	Memory string `yaml:"memory"`
	CPU    string `yaml:"cpu"`
}

// Configuration holds the templates to pull and the paths copied into every build context.
type Configuration struct {
	Templates []Template `yaml:"templates"`
	Copy      []string   `yaml:"copy"`
}

// Template is a template repository faas-cli pulls.
type Template struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"`
}

// Load reads and validates the stack file at path.
func Load(path string) (*Stack, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stack: %w", err)
	}
	return Parse(raw)
}

// Parse decodes a stack file; unknown keys are an error so a typo cannot pass silently.
func Parse(raw []byte) (*Stack, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	var s Stack
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse stack: %w", err)
	}
	for name, fn := range s.Functions {
		fn.Name = name
		s.Functions[name] = fn
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks what every consumer of the stack relies on.
func (s *Stack) Validate() error {
	var errs []error
	if s.Provider.Name != "openfaas" {
		errs = append(errs, fmt.Errorf("provider.name is %q, want openfaas", s.Provider.Name))
	}
	if len(s.Functions) == 0 {
		errs = append(errs, errors.New("no functions"))
	}
	for _, fn := range s.Sorted() {
		if fn.Lang == "" || fn.Handler == "" || fn.Image == "" {
			errs = append(errs, fmt.Errorf("function %s: lang, handler and image are required", fn.Name))
		}
	}
	return errors.Join(errs...)
}

// Sorted returns the functions ordered by name, for stable output.
func (s *Stack) Sorted() []Function {
	fns := make([]Function, 0, len(s.Functions))
	for _, fn := range s.Functions {
		fns = append(fns, fn)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	return fns
}

// Topics returns the Kafka topics a function subscribes to through its "topic"
// annotation (comma-separated, as the OpenFaaS connectors read it). The cron
// connector's pseudo-topic "cron-function" is not a Kafka topic and is left out.
func (f Function) Topics() []string {
	var topics []string
	for _, t := range strings.Split(f.Annotations["topic"], ",") {
		if t = strings.TrimSpace(t); t != "" && t != CronTopic {
			topics = append(topics, t)
		}
	}
	return topics
}

// ExecTimeout is the function's exec_timeout (of-watchdog's bound on one call),
// given in whole seconds or as a Go duration; zero when it is not set.
func (f Function) ExecTimeout() (time.Duration, error) {
	v, ok := f.Environment["exec_timeout"]
	if !ok {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("function %s: exec_timeout %q: %w", f.Name, v, err)
	}
	return d, nil
}

// DefaultExecTimeout is of-watchdog's exec_timeout when a function sets none.
const DefaultExecTimeout = 10 * time.Second

// CallTimeout is how long one call may take: the function's exec_timeout, or
// of-watchdog's default when it is unset or unreadable.
func (f Function) CallTimeout() time.Duration {
	d, err := f.ExecTimeout()
	if err != nil || d <= 0 {
		return DefaultExecTimeout
	}
	return d
}

// CronTopic is the topic annotation the cron-connector looks for.
const CronTopic = "cron-function"

// Schedule returns the cron schedule of a function the cron-connector invokes, or "".
func (f Function) Schedule() string {
	if !strings.Contains(f.Annotations["topic"], CronTopic) {
		return ""
	}
	return f.Annotations["schedule"]
}

// FindRoot walks up from the working directory to the project folder: the
// first one holding a stack.yml.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "stack.yml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stack.yml not found above the working directory")
		}
		dir = parent
	}
}
