package main

import (
	"os"
	"slices"
	"testing"
)

func TestBelow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		children map[int][]int
		pid      int
		want     []int
	}{
		{"none", map[int][]int{1: {10}}, 10, nil},
		{"a tree, breadth first", map[int][]int{1: {10, 11}, 10: {20, 21}, 21: {30}, 11: {40}}, 10, []int{20, 21, 30}},
		// 20 was read as 10's child; 10 then exited and its pid went to
		// a new child of 20: each is the other's parent in the table.
		{"a loop through a reused pid", map[int][]int{1: {10}, 10: {20}, 20: {10, 30}}, 1, []int{10, 20, 30}},
		{"a loop back to the root", map[int][]int{10: {20}, 20: {10}}, 10, []int{20}},
		{"a process its own parent", map[int][]int{10: {10, 20}, 20: {20}}, 10, []int{20}},
		{"a child listed twice", map[int][]int{10: {20, 20}, 20: {30}}, 10, []int{20, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := below(tc.children, tc.pid); !slices.Equal(got, tc.want) {
				t.Errorf("below(%v, %d) = %v, want %v", tc.children, tc.pid, got, tc.want)
			}
		})
	}
}

func TestDescendantsOfThisProcess(t *testing.T) {
	// pid 1 is above every process: this one must be among its descendants,
	// and each only once.
	got := descendants(1)
	if !slices.Contains(got, os.Getpid()) {
		t.Errorf("descendants(1) lacks this process %d", os.Getpid())
	}
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p] {
			t.Fatalf("descendants(1) lists %d twice", p)
		}
		seen[p] = true
	}
}
