package release_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/opskit/opskit/release"
)

func ExampleCompare() {
	baseline := release.Counts{Good: 9900, Bad: 100} // 1 %
	for _, candidate := range []release.Counts{
		{Good: 970, Bad: 30}, // 3 %
		{Good: 990, Bad: 10}, // 1 %
		{Good: 297, Bad: 3},  // too few events
	} {
		v, err := release.Compare(baseline, candidate, release.Policy{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(v.Decision)
	}
	// Output:
	// no-go
	// go
	// not-enough-data
}

func ExampleVerdict() {
	v, err := release.Compare(release.Counts{Good: 9900, Bad: 100}, release.Counts{Good: 970, Bad: 30}, release.Policy{})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = json.NewEncoder(os.Stdout).Encode(v)
	// Output:
	// {"decision":"no-go","baseline":{"good":9900,"bad":100},"candidate":{"good":970,"bad":30},"baselineErrorRatio":0.01,"candidateErrorRatio":0.03,"logLikelihoodRatio":11.241337653831692,"reason":"the candidate fails more often than the baseline: error ratio 3.00 % against 1.00 % (evidence 11.24 ≥ 3.00)"}
}

func ExampleFromBuild() {
	// Explicit values win; empty ones come from the build (Devel under go test).
	i := release.FromBuild(release.Info{Service: "orders", Version: "v1.4.2"})
	fmt.Println(i.Service, i.Version, i.ID == release.Devel)
	// Output: orders v1.4.2 true
}
