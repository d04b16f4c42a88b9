package function

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Column kinds.
const (
	// KindNumeric is a column whose every non-empty cell is a finite number.
	KindNumeric = "numeric"
	// KindText is a column with at least one non-empty cell that is not a
	// finite number.
	KindText = "text"
	// KindEmpty is a column without a non-empty cell.
	KindEmpty = "empty"
)

// Limits of the text statistics.
const (
	// TopValues is how many of the most common values a text column lists.
	TopValues = 5
	// MaxDistinct is how many distinct values a column counts. Further new
	// values are not counted, and the column says Capped; values already
	// seen keep counting. A column's memory is then at most 10,000 map
	// entries plus a copy of each counted value; all copies together are
	// never larger than the CSV itself.
	MaxDistinct = 10_000
)

// ColumnStats describes one column of the CSV.
type ColumnStats struct {
	// Name is the column's name in the header row.
	Name string `json:"name"`
	// Kind is KindNumeric, KindText or KindEmpty.
	Kind string `json:"kind"`
	// Count is how many cells are not empty.
	Count int `json:"count"`
	// Empty is how many cells are empty or only white space.
	Empty int `json:"empty"`
	// Min, Max and Mean are set for a numeric column.
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Mean *float64 `json:"mean,omitempty"`
	// Distinct is how many different values a text column has: a lower
	// bound when Capped.
	Distinct int `json:"distinct,omitempty"`
	// Capped says the column has more than MaxDistinct different values:
	// Distinct is then MaxDistinct and Top counts only the values that
	// appeared before the cap was reached.
	Capped bool `json:"capped,omitempty"`
	// Top lists a text column's TopValues most common values, the most
	// common first, ties in ascending byte order of Value.
	Top []ValueCount `json:"top,omitempty"`
}

// ValueCount is a value of a text column and how many cells hold it.
type ValueCount struct {
	// Value is the cell's text without surrounding white space.
	Value string `json:"value"`
	// Count is how many cells hold Value.
	Count int `json:"count"`
}

// column accumulates the statistics of one column in one pass: it keeps
// numeric statistics while every value so far is a number, and counts
// values in case one turns out not to be.
type column struct {
	name    string
	count   int
	empty   int
	numeric bool
	min     float64
	max     float64
	mean    float64
	values  map[string]int
	capped  bool
}

func newColumn(name string) *column {
	return &column{name: name, numeric: true, values: make(map[string]int)}
}

// add takes one cell. The cell may share memory with the CSV reader's
// buffer, so a value is copied before it is kept.
func (c *column) add(cell string) {
	v := strings.TrimSpace(cell)
	if v == "" {
		c.empty++
		return
	}
	c.count++

	if c.numeric {
		x, err := strconv.ParseFloat(v, 64)
		if err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
			c.addNumber(x)
		} else {
			c.numeric = false
		}
	}

	if n, ok := c.values[v]; ok {
		c.values[v] = n + 1
	} else if len(c.values) < MaxDistinct {
		c.values[strings.Clone(v)] = 1
	} else {
		c.capped = true
	}
}

// addNumber updates the running mean as x/n - mean/n, which stays finite
// for any finite inputs where a plain sum could overflow.
func (c *column) addNumber(x float64) {
	if c.count == 1 {
		c.min, c.max, c.mean = x, x, x
		return
	}
	c.min = min(c.min, x)
	c.max = max(c.max, x)
	n := float64(c.count)
	c.mean += x/n - c.mean/n
}

// stats reports the column.
func (c *column) stats() ColumnStats {
	s := ColumnStats{Name: c.name, Count: c.count, Empty: c.empty}
	switch {
	case c.count == 0:
		s.Kind = KindEmpty
	case c.numeric:
		s.Kind = KindNumeric
		s.Min, s.Max, s.Mean = &c.min, &c.max, &c.mean
	default:
		s.Kind = KindText
		s.Distinct = len(c.values)
		s.Capped = c.capped
		s.Top = c.top()
	}
	return s
}

// top returns the TopValues most common values.
func (c *column) top() []ValueCount {
	all := make([]ValueCount, 0, len(c.values))
	for v, n := range c.values {
		all = append(all, ValueCount{Value: v, Count: n})
	}
	slices.SortFunc(all, func(a, b ValueCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
	})
	return all[:min(len(all), TopValues)]
}
