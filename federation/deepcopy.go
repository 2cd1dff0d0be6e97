package federation

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
)

// Deep copies go through JSON: every field of these types round-trips
// through its JSON form (that is how they are stored), and it keeps the
// copy correct as the types grow. Hot paths should not copy.

func jsonCopy[T any](in *T) *T {
	if in == nil {
		return nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("federation: deep copy %T: %v", in, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("federation: deep copy %T: %v", in, err))
	}
	return out
}

// DeepCopy returns a deep copy.
func (in *FederatedDeployment) DeepCopy() *FederatedDeployment { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *FederatedDeployment) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *Member) DeepCopy() *Member { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *Member) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *PlacementStatus) DeepCopy() *PlacementStatus { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *PlacementStatus) DeepCopyObject() runtime.Object { return in.DeepCopy() }
