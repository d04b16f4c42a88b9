package function_test

import (
	"context"
	"fmt"
	"os"

	"github.com/cloudevents/sdk-go/v2/event"

	function "function"
)

// A producer asks for a 64×64 box with the thumbnailsize extension; the
// reply carries the PNG and its size.
func ExampleFunction_Handle() {
	data, err := os.ReadFile("../../../shared/data/video-001.jpeg")
	if err != nil {
		fmt.Println(err)
		return
	}
	in := event.New()
	in.SetID("photo-1")
	in.SetSource("/example/producer")
	in.SetType(function.EventType)
	in.SetExtension(function.SizeExtension, "64")
	_ = in.SetData("image/jpeg", data)

	out, err := function.New().Handle(context.Background(), in)
	if err != nil {
		fmt.Println(err)
		return
	}

	ext := out.Extensions()
	fmt.Println(out.Type(), out.DataContentType())
	fmt.Println(ext[function.WidthExtension], ext[function.HeightExtension])
	// Output:
	// dev.ferry.thumbnail.done image/png
	// 64 44
}

// An image that does not decode gets a .failed reply with a problem, not
// an error: retrying it would never help.
func ExampleFunction_Handle_brokenInput() {
	in := event.New()
	in.SetID("photo-2")
	in.SetSource("/example/producer")
	in.SetType(function.EventType)
	_ = in.SetData("image/png", []byte("not a picture"))

	out, err := function.New().Handle(context.Background(), in)
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println(out.Type(), out.DataContentType())
	fmt.Println(string(out.Data()))
	// Output:
	// dev.ferry.thumbnail.failed application/problem+json
	// {"type":"https://ferry.dev/problems/invalid-input","title":"Invalid input","detail":"decode image: unknown format: want JPEG, PNG or GIF"}
}
