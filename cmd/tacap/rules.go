package main

import (
	"os"

	"github.com/tacap/tacap/labels"
)

// loadRules reads and checks a rules file named by flag; every failure is
// a usage error (exit 2), before anything is captured or rewritten.
func loadRules(flag, path string) (*labels.Rules, error) {
	if path == "" {
		return nil, usagef("%s must name a rules file (YAML)", flag)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	rules, err := labels.Parse(path, src)
	if err != nil {
		return nil, usagef("%s: %v — fix the rules file (its format: docs/dataset.md, \"Labels\")", flag, err)
	}
	return rules, nil
}
