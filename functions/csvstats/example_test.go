package function_test

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"

	function "function"
)

// A producer sends a CSV; the reply carries its statistics as JSON.
func ExampleFunction_Handle() {
	in := event.New()
	in.SetID("report-1")
	in.SetSource("/example/producer")
	in.SetType(function.EventType)
	_ = in.SetData("text/csv", []byte("city,temp\nOslo,4\nRome,18\nOslo,\n"))

	out, err := function.New().Handle(context.Background(), in)
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println(out.Type(), out.DataContentType())
	fmt.Println(string(out.Data()))
	// Output:
	// dev.ferry.csvstats.done application/json
	// {"rows":3,"columns":[{"name":"city","kind":"text","count":3,"empty":0,"distinct":2,"top":[{"value":"Oslo","count":2},{"value":"Rome","count":1}]},{"name":"temp","kind":"numeric","count":2,"empty":1,"min":4,"max":18,"mean":11}]}
}

// A row with too few fields gets a .failed reply that names its line, not
// an error: retrying it would never help.
func ExampleFunction_Handle_brokenInput() {
	in := event.New()
	in.SetID("report-2")
	in.SetSource("/example/producer")
	in.SetType(function.EventType)
	_ = in.SetData("text/csv", []byte("city,temp\nOslo,4\nRome\n"))

	out, err := function.New().Handle(context.Background(), in)
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println(out.Type(), out.DataContentType())
	fmt.Println(string(out.Data()))
	// Output:
	// dev.ferry.csvstats.failed application/problem+json
	// {"type":"https://ferry.dev/problems/invalid-input","title":"Invalid input","detail":"parse CSV: record on line 3: wrong number of fields: 1, the header has 2"}
}
