package conformance

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// sent is an event a filter test posts, and whether the Trigger under
// test must deliver it.
type sent struct {
	hdr  map[string]string
	want bool
}

// deliver and skip build the events of a filter test: binary mode, with
// id, type and extension attributes.
func deliver(id, typ string, ext ...string) sent {
	return sent{hdr: binary(id, typ, ext...), want: true}
}

func skip(id, typ string, ext ...string) sent {
	return sent{hdr: binary(id, typ, ext...)}
}

// checkFilter starts a stack with one Trigger whose spec has filter, posts
// events, waits until each is finished and checks that the subscriber got
// exactly those marked want.
func checkFilter(t *testing.T, filter string, events ...sent) {
	t.Helper()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("filtered", sub.URL(), filter))

	var want []string
	for _, e := range events {
		s.awaitFinished(s.publish(e.hdr, nil))
		if e.want {
			want = append(want, e.hdr["Ce-Id"])
		}
	}
	checkReceived(t, sub, want)
}

// checkReceived checks that sub received exactly the events with ids want,
// each once. Call it once their tasks are finished.
func checkReceived(t *testing.T, sub *subscriber, want []string) {
	t.Helper()
	var got []string
	for _, r := range sub.received() {
		got = append(got, r.ce("id"))
	}
	sort.Strings(got)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("subscriber received %v, want %v", got, want)
	}
}

func TestTriggerWithoutFilterDeliversEveryEvent(t *testing.T) {
	t.Parallel()
	checkFilter(t, "",
		deliver("a", "dev.conformance.a"),
		deliver("b", "dev.conformance.b", "myext", "x"))
}

func TestTriggerFilterMismatchIsNotDelivered(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filter:\n  attributes:\n    type: dev.conformance.wanted\n"+
		"    source: /conformance\n",
		skip("other-type", "dev.conformance.other"),
		skip("prefix-only", "dev.conformance.wanted.not"))
}

func TestTriggerFilterMatchIsDelivered(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filter:\n  attributes:\n    type: dev.conformance.wanted\n"+
		"    source: /conformance\n    myext: blue\n",
		deliver("match", "dev.conformance.wanted", "myext", "blue"),
		skip("wrong-ext", "dev.conformance.wanted", "myext", "red"))
}

func TestTwoMatchingTriggersBothReceive(t *testing.T) {
	t.Parallel()
	first := newSubscriber(t, accept)
	second := newSubscriber(t, accept)
	other := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""),
		triggerDoc("first", first.URL(), typeFilter("dev.conformance.both")),
		triggerDoc("second", second.URL(), "filter:\n  attributes:\n"+
			"    source: /conformance\n"),
		triggerDoc("other", other.URL(), typeFilter("dev.conformance.other")))

	tk := s.awaitFinished(s.publish(binary("both", "dev.conformance.both"), nil))
	if tk.State != "succeeded" || len(tk.Deliveries) != 2 {
		t.Errorf("task %s with %d deliveries, want succeeded with 2",
			tk.State, len(tk.Deliveries))
	}
	checkReceived(t, first, []string{"both"})
	checkReceived(t, second, []string{"both"})
	checkReceived(t, other, nil)
}

func TestFilterExact(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- exact:\n    type: dev.conformance.exact\n"+
		"    myext: blue\n",
		deliver("exact", "dev.conformance.exact", "myext", "blue"),
		skip("longer", "dev.conformance.exact.x", "myext", "blue"),
		skip("ext-differs", "dev.conformance.exact", "myext", "Blue"))
}

func TestFilterPrefix(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- prefix:\n    type: dev.conformance.order.\n",
		deliver("created", "dev.conformance.order.created"),
		deliver("shipped", "dev.conformance.order.shipped"),
		skip("orders", "dev.conformance.orders"),
		skip("mid", "com.dev.conformance.order.x"))
}

func TestFilterSuffix(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- suffix:\n    type: .failed\n",
		deliver("failed", "dev.conformance.resize.failed"),
		skip("failed-not", "dev.conformance.failed.not"),
		skip("unfailed", "dev.conformance.unfailed"))
}

func TestFilterAll(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- all:\n  - prefix:\n      type: dev.conformance.\n"+
		"  - suffix:\n      type: .created\n  - exact:\n      myext: blue\n",
		deliver("all-three", "dev.conformance.order.created", "myext", "blue"),
		skip("two-of-three", "dev.conformance.order.created", "myext", "red"),
		skip("one-of-three", "dev.conformance.order.shipped"))
}

func TestFilterAny(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- any:\n  - exact:\n      type: dev.conformance.a\n"+
		"  - exact:\n      myext: blue\n",
		deliver("by-type", "dev.conformance.a"),
		deliver("by-ext", "dev.conformance.z", "myext", "blue"),
		skip("neither", "dev.conformance.z", "myext", "red"))
}

func TestFilterNot(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- not:\n    prefix:\n      type: dev.conformance.internal.\n",
		deliver("public", "dev.conformance.public"),
		skip("internal", "dev.conformance.internal.audit"))
}

func TestFilterCESQL(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filters:\n- cesql: \"type LIKE 'dev.conformance.%' AND "+
		"INT(priority) > 100\"\n",
		deliver("high", "dev.conformance.job", "priority", "150"),
		skip("low", "dev.conformance.job", "priority", "50"),
		skip("no-priority", "dev.conformance.job"),
		skip("wrong-type", "com.other.job", "priority", "150"))
}

func TestFiltersCombined(t *testing.T) {
	t.Parallel()
	// Every element of spec.filters must pass: prefix AND suffix AND
	// (any of two extensions) AND not internal AND a CESQL condition.
	checkFilter(t, "filters:\n"+
		"- prefix:\n    type: dev.conformance.\n"+
		"- suffix:\n    type: .created\n"+
		"- any:\n  - exact:\n      region: eu\n  - exact:\n      region: us\n"+
		"- not:\n    exact:\n      source: /internal\n"+
		"- cesql: \"myext = 'blue'\"\n",
		deliver("all-pass", "dev.conformance.order.created", "region", "eu",
			"myext", "blue"),
		skip("cesql-fails", "dev.conformance.order.created", "region", "us",
			"myext", "red"),
		skip("any-fails", "dev.conformance.order.created", "region", "asia",
			"myext", "blue"),
		skip("suffix-fails", "dev.conformance.order.shipped", "region", "eu",
			"myext", "blue"))
}

func TestFiltersOverrideFilter(t *testing.T) {
	t.Parallel()
	// spec.filter would take only dev.conformance.old; the non-empty
	// spec.filters replaces it.
	checkFilter(t, typeFilter("dev.conformance.old")+
		"filters:\n- exact:\n    type: dev.conformance.new\n",
		deliver("new", "dev.conformance.new"),
		skip("old", "dev.conformance.old"))
}

func TestFilterMissingExtensionIsNotDelivered(t *testing.T) {
	t.Parallel()
	for name, filter := range map[string]string{
		"filter.attributes": "filter:\n  attributes:\n    myext: blue\n",
		"filters exact":     "filters:\n- exact:\n    myext: blue\n",
		"filters prefix":    "filters:\n- prefix:\n    myext: bl\n",
		"filters cesql":     "filters:\n- cesql: \"myext = 'blue'\"\n",
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			checkFilter(t, filter,
				deliver("has-ext", "dev.conformance.ext", "myext", "blue"),
				skip("no-ext", "dev.conformance.ext"),
				skip("other-ext", "dev.conformance.ext", "otherext", "blue"))
		})
	}
}

func TestFilterEmptyValueMeansPresent(t *testing.T) {
	t.Parallel()
	checkFilter(t, "filter:\n  attributes:\n    type: dev.conformance.present\n"+
		"    myext: \"\"\n",
		deliver("any-value", "dev.conformance.present", "myext", "whatever"),
		deliver("other-value", "dev.conformance.present", "myext", "blue"),
		skip("absent", "dev.conformance.present"))
}

func TestFilterMatchesIntegerExtensionAsString(t *testing.T) {
	t.Parallel()
	for name, filter := range map[string]string{
		"filter.attributes": "filter:\n  attributes:\n    priority: \"150\"\n",
		"filters exact":     "filters:\n- exact:\n    priority: \"150\"\n",
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			sub := newSubscriber(t, accept)
			s := startStack(t, brokerDoc(""),
				triggerDoc("priority", sub.URL(), filter))

			for id, priority := range map[string]any{"int-150": 150,
				"string-150": "150", "int-151": 151} {
				s.awaitFinished(s.publishStructured(map[string]any{
					"specversion": "1.0", "id": id, "source": "/conformance",
					"type": "dev.conformance.priority", "priority": priority}))
			}
			checkReceived(t, sub, []string{"int-150", "string-150"})
		})
	}
}
