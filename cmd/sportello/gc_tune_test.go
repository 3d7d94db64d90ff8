package main

import "testing"

func TestPlanGC(t *testing.T) {
	const gib = 1 << 30
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	capped := func() int64 { return 2 * gib }
	uncapped := func() int64 { return 0 }
	for _, tc := range []struct {
		name string
		vars map[string]string
		max  func() int64
		want gcPlan
	}{
		{"nothing set, no cap", nil, uncapped, gcPlan{percent: defaultGCPercent}},
		{"nothing set, cgroup cap", nil, capped, gcPlan{percent: defaultGCPercent, limit: 2 * gib / 10 * 9}},
		{"operator's GOGC", map[string]string{"GOGC": "100"}, uncapped, gcPlan{percent: -1}},
		{"operator's GOGC off with a cap", map[string]string{"GOGC": "off"}, capped, gcPlan{percent: -1, limit: 2 * gib / 10 * 9}},
		{"operator's GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "512MiB"}, capped, gcPlan{percent: defaultGCPercent}},
	} {
		if got := planGC(env(tc.vars), tc.max); got != tc.want {
			t.Errorf("%s: planGC = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestCgroupFiles(t *testing.T) {
	path, ok := cgroupV2Path([]byte("12:pids:/x\n0::/system.slice/sportello.service\n"))
	if !ok || path != "/system.slice/sportello.service" {
		t.Errorf("cgroupV2Path = %q, %v", path, ok)
	}
	if _, ok := cgroupV2Path([]byte("12:memory:/user.slice\n")); ok {
		t.Error("cgroupV2Path found a v2 path in a v1-only file")
	}
	for raw, want := range map[string]int64{"max\n": 0, "1073741824\n": 1 << 30, "": 0, "-1": 0} {
		if got := parseMemoryMax([]byte(raw)); got != want {
			t.Errorf("parseMemoryMax(%q) = %d, want %d", raw, got, want)
		}
	}
	// On any machine the detection must answer without failing: a number
	// of bytes or 0.
	if got := cgroupMemoryMax(); got < 0 {
		t.Errorf("cgroupMemoryMax = %d", got)
	}
}
