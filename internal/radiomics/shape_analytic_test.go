package radiomics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// shapeBox returns a box of a×b×c voxels (x, y, z) placed at offset off inside a volume of size.
func shapeBox(size, off [3]int, a, b, c int) []bool {
	m := make([]bool, size[0]*size[1]*size[2])
	for z := off[2]; z < off[2]+c; z++ {
		for y := off[1]; y < off[1]+b; y++ {
			for x := off[0]; x < off[0]+a; x++ {
				m[(z*size[1]+y)*size[0]+x] = true
			}
		}
	}
	return m
}

func shapeClose(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	if math.IsNaN(want) {
		if !math.IsNaN(got) {
			t.Errorf("%s = %v, want NaN", name, got)
		}
		return
	}
	if d := math.Abs(got - want); !(d <= rel*math.Abs(want)) && !(want == 0 && d == 0) {
		t.Errorf("%s = %.15g, want %.15g (relative error %.3g, limit %.3g)", name, got, want, d/math.Abs(want), rel)
	}
}

func TestShapeFeatureNames(t *testing.T) {
	if n := ShapeFeatureNames(); len(n) != 14 || n[0] != "MeshVolume" || n[13] != "Flatness" {
		t.Errorf("ShapeFeatureNames = %v", n)
	}
	if n := Shape2DFeatureNames(); len(n) != 9 || n[0] != "MeshSurface" || n[8] != "Elongation" {
		t.Errorf("Shape2DFeatureNames = %v", n)
	}
	a := ShapeFeatureNames()
	a[0] = "changed"
	if ShapeFeatureNames()[0] != "MeshVolume" {
		t.Error("ShapeFeatureNames returns shared storage")
	}
}

// Closed forms for a box of a×b×c voxels with spacing (sx, sy, sz): the marching-cubes mesh is the
// box [-½, n-½] per axis with edges chamfered at 45° (in voxel units) over half a voxel and
// corners cut by one triangle each.
func TestShapeBox(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b, c int
		sp      [3]float64
	}{
		{"cube unit", 5, 5, 5, [3]float64{1, 1, 1}},
		{"box anisotropic", 7, 4, 3, [3]float64{0.7, 0.9, 2.5}},
		{"rod", 1, 1, 9, [3]float64{0.5, 0.5, 3}},
		{"single slice", 6, 8, 1, [3]float64{0.8, 0.8, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := [3]int{tc.a + 3, tc.b + 2, tc.c + 4}
			m := shapeBox(size, [3]int{2, 1, 1}, tc.a, tc.b, tc.c)
			f, err := ShapeFeatures(m, size, tc.sp)
			if err != nil {
				t.Fatal(err)
			}
			a, b, c := float64(tc.a), float64(tc.b), float64(tc.c)
			sx, sy, sz := tc.sp[0], tc.sp[1], tc.sp[2]
			if want := a * b * c * (sz * sx * sy); f["VoxelVolume"] != want {
				t.Errorf("VoxelVolume = %v, want %v", f["VoxelVolume"], want)
			}
			vol := sx * sy * sz * (a*b*c - 5.0/6 - (a+b+c-3)/2)
			shapeClose(t, "MeshVolume", f["MeshVolume"], vol, 1e-12)
			area := 2*((b-1)*(c-1)*sy*sz+(a-1)*(c-1)*sx*sz+(a-1)*(b-1)*sx*sy) +
				2*((c-1)*sz*math.Hypot(sx, sy)+(b-1)*sy*math.Hypot(sx, sz)+(a-1)*sx*math.Hypot(sy, sz)) +
				math.Sqrt(sy*sy*sz*sz+sx*sx*sz*sz+sx*sx*sy*sy)
			shapeClose(t, "SurfaceArea", f["SurfaceArea"], area, 1e-12)
			shapeClose(t, "SurfaceVolumeRatio", f["SurfaceVolumeRatio"], area/vol, 1e-12)
			shapeClose(t, "Sphericity", f["Sphericity"], math.Cbrt(36*math.Pi*vol*vol)/area, 1e-12)
			// Principal axes: variance of n equally spaced centres is s²(n²-1)/12.
			ax := []float64{
				4 * math.Sqrt(sx*sx*(a*a-1)/12), 4 * math.Sqrt(sy*sy*(b*b-1)/12), 4 * math.Sqrt(sz*sz*(c*c-1)/12),
			}
			slices.Sort(ax)
			shapeClose(t, "MajorAxisLength", f["MajorAxisLength"], ax[2], 1e-12)
			shapeClose(t, "MinorAxisLength", f["MinorAxisLength"], ax[1], 1e-12)
			shapeClose(t, "LeastAxisLength", f["LeastAxisLength"], ax[0], 1e-12)
			shapeClose(t, "Elongation", f["Elongation"], ax[1]/ax[2], 1e-12)
			shapeClose(t, "Flatness", f["Flatness"], ax[0]/ax[2], 1e-12)
			if tc.sp == [3]float64{1, 1, 1} {
				// Farthest vertices: midpoints on opposite faces at opposite corners of the face grid.
				d3 := math.Sqrt(max(a*a+(b-1)*(b-1)+(c-1)*(c-1), (a-1)*(a-1)+b*b+(c-1)*(c-1), (a-1)*(a-1)+(b-1)*(b-1)+c*c))
				shapeClose(t, "Maximum3DDiameter", f["Maximum3DDiameter"], d3, 1e-12)
				slice := math.Sqrt(max(a*a+(b-1)*(b-1), (a-1)*(a-1)+b*b))
				shapeClose(t, "Maximum2DDiameterSlice", f["Maximum2DDiameterSlice"], slice, 1e-12)
			}
		})
	}
}

func TestShapeSingleVoxel(t *testing.T) {
	sx, sy, sz := 0.6, 0.8, 2.5
	size := [3]int{3, 2, 4}
	m := make([]bool, 24)
	m[(2*2+1)*3+1] = true
	f, err := ShapeFeatures(m, size, [3]float64{sx, sy, sz})
	if err != nil {
		t.Fatal(err)
	}
	// The mesh is an octahedron through the six face centres.
	want := map[string]float64{
		"MeshVolume":              sx * sy * sz / 6,
		"VoxelVolume":             sz * sx * sy,
		"SurfaceArea":             math.Sqrt(sy*sy*sz*sz + sx*sx*sz*sz + sx*sx*sy*sy),
		"Maximum3DDiameter":       max(sx, sy, sz),
		"Maximum2DDiameterSlice":  max(sx, sy),
		"Maximum2DDiameterColumn": max(sx, sz),
		"Maximum2DDiameterRow":    max(sy, sz),
		"MajorAxisLength":         0,
		"MinorAxisLength":         0,
		"LeastAxisLength":         0,
		"Elongation":              math.NaN(), // 0/0, as numpy gives
		"Flatness":                math.NaN(),
	}
	for name, w := range want {
		shapeClose(t, name, f[name], w, 1e-14)
	}
}

// A ball rasterised at fine resolution approaches the continuous values.
func TestShapeBall(t *testing.T) {
	const r = 20.0 // voxels
	s := 0.5       // mm
	m, size := shapeBall(45, r, 22.2, 21.9, 22.4)
	f, err := ShapeFeatures(m, size, [3]float64{s, s, s})
	if err != nil {
		t.Fatal(err)
	}
	R := r * s
	vol := 4.0 / 3 * math.Pi * R * R * R
	shapeClose(t, "MeshVolume", f["MeshVolume"], vol, 0.01)
	shapeClose(t, "VoxelVolume", f["VoxelVolume"], vol, 0.01)
	// The vertices lie half a voxel outside the outermost centres.
	shapeClose(t, "Maximum3DDiameter", f["Maximum3DDiameter"], 2*R, s/(2*R))
	for _, name := range []string{"Maximum2DDiameterSlice", "Maximum2DDiameterColumn", "Maximum2DDiameterRow"} {
		shapeClose(t, name, f[name], 2*R, s/(2*R))
	}
	// Solid ball: the covariance is R²/5 along every axis.
	for _, name := range []string{"MajorAxisLength", "MinorAxisLength", "LeastAxisLength"} {
		shapeClose(t, name, f[name], 4*math.Sqrt(R*R/5), 0.01)
	}
	shapeClose(t, "Elongation", f["Elongation"], 1, 0.01)
	shapeClose(t, "Flatness", f["Flatness"], 1, 0.01)
	// Marching cubes over-estimates a sphere's area by several percent (axis-aligned facets).
	if a := f["SurfaceArea"] / (4 * math.Pi * R * R); a < 1 || a > 1.1 {
		t.Errorf("SurfaceArea / 4πR² = %v", a)
	}
	if sph := f["Sphericity"]; sph < 0.88 || sph > 1 {
		t.Errorf("Sphericity = %v", sph)
	}
}

// A one-slice mask is flat: the least axis and flatness are exactly 0 and the mesh is still closed.
func TestShapeFlatSlice(t *testing.T) {
	size := [3]int{30, 30, 3}
	m := make([]bool, 30*30*3)
	n := 0
	for y := 0; y < 30; y++ {
		for x := 0; x < 30; x++ {
			dx, dy := float64(x)-14.3, float64(y)-15.1
			if dx*dx+dy*dy <= 12*12 {
				m[(1*30+y)*30+x] = true
				n++
			}
		}
	}
	f, err := ShapeFeatures(m, size, [3]float64{0.5, 0.5, 3})
	if err != nil {
		t.Fatal(err)
	}
	if f["LeastAxisLength"] != 0 || f["Flatness"] != 0 {
		t.Errorf("LeastAxisLength %v Flatness %v, want 0", f["LeastAxisLength"], f["Flatness"])
	}
	if f["VoxelVolume"] != float64(n)*(3*0.5*0.5) || !(f["MeshVolume"] > 0) || !(f["MeshVolume"] < f["VoxelVolume"]) {
		t.Errorf("VoxelVolume %v MeshVolume %v", f["VoxelVolume"], f["MeshVolume"])
	}
	shapeClose(t, "Elongation", f["Elongation"], 1, 0.02)
}

// Background margins and the position of the ROI in its box do not change any value.
func TestShapeMarginInvariance(t *testing.T) {
	tight := shapeBox([3]int{4, 3, 2}, [3]int{}, 4, 3, 2)
	tight[0] = false
	tight[23] = false
	loose := make([]bool, 9*8*7)
	for z := 0; z < 2; z++ {
		for y := 0; y < 3; y++ {
			for x := 0; x < 4; x++ {
				loose[((z+3)*8+y+4)*9+x+1] = tight[(z*3+y)*4+x]
			}
		}
	}
	sp := [3]float64{0.9, 1.1, 2}
	a, err := ShapeFeatures(tight, [3]int{4, 3, 2}, sp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ShapeFeatures(loose, [3]int{9, 8, 7}, sp)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ShapeFeatureNames() {
		if a[name] != b[name] {
			t.Errorf("%s: tight box %v, loose box %v", name, a[name], b[name])
		}
	}
}

func TestShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mask []bool
		size [3]int
		sp   [3]float64
	}{
		{"empty", make([]bool, 8), [3]int{2, 2, 2}, [3]float64{1, 1, 1}},
		{"length", make([]bool, 7), [3]int{2, 2, 2}, [3]float64{1, 1, 1}},
		{"zero size", nil, [3]int{0, 2, 2}, [3]float64{1, 1, 1}},
		{"spacing", []bool{true}, [3]int{1, 1, 1}, [3]float64{1, 0, 1}},
		{"NaN spacing", []bool{true}, [3]int{1, 1, 1}, [3]float64{1, 1, math.NaN()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ShapeFeatures(tc.mask, tc.size, tc.sp); err == nil {
				t.Error("no error")
			}
			if _, err := Shape2DFeatures(tc.mask, tc.size, tc.sp, 0); err == nil {
				t.Error("shape2D: no error")
			}
		})
	}
}

// Every triangle of the case table uses only edges crossing the surface, covers all of them, and
// has its normal pointing from the ROI corners to the background corners (consistent orientation,
// which the signed mesh volume relies on).
func TestShapeMarchingCubesTable(t *testing.T) {
	corner := [8][3]int{{0, 0, 0}, {0, 0, 1}, {0, 1, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0, 1}, {1, 1, 1}, {1, 1, 0}}
	edge := [12][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 0}, {4, 5}, {5, 6}, {6, 7}, {7, 4}, {0, 4}, {1, 5}, {2, 6}, {3, 7}}
	for c := 0; c < 128; c++ {
		used := map[int]bool{}
		tris := shapeMCTris[c]
		if len(tris)%3 != 0 {
			t.Fatalf("case %d: %d edge numbers", c, len(tris))
		}
		for i := 0; i < len(tris); i += 3 {
			var p [3][3]float64
			s := 0.0
			for k := 0; k < 3; k++ {
				e := int(tris[i+k])
				used[e] = true
				if c>>edge[e][0]&1 == c>>edge[e][1]&1 {
					t.Fatalf("case %d uses edge %d, which does not cross the surface", c, e)
				}
				for d := 0; d < 3; d++ {
					p[k][d] = float64(shapeMCEdgeMid[e][d])
				}
			}
			n := shapeCross([3]float64{p[1][0] - p[0][0], p[1][1] - p[0][1], p[1][2] - p[0][2]},
				[3]float64{p[2][0] - p[0][0], p[2][1] - p[0][1], p[2][2] - p[0][2]})
			for k := 0; k < 3; k++ {
				e := int(tris[i+k])
				in, out := edge[e][0], edge[e][1]
				if c>>in&1 == 0 {
					in, out = out, in
				}
				s += shapeDot(n, [3]float64{
					float64(corner[out][0] - corner[in][0]), float64(corner[out][1] - corner[in][1]), float64(corner[out][2] - corner[in][2]),
				})
			}
			if !(s > 0) {
				t.Errorf("case %d triangle %v is oriented inwards", c, tris[i:i+3])
			}
		}
		for e, ed := range edge {
			if c>>ed[0]&1 != c>>ed[1]&1 && !used[e] {
				t.Errorf("case %d misses crossing edge %d", c, e)
			}
		}
	}
}

// The pruned diameter search equals the all-pairs maximum over every mesh vertex, bit for bit.
func TestShapeDiametersBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := 0; trial < 40; trial++ {
		size := [3]int{2 + rng.IntN(9), 2 + rng.IntN(9), 1 + rng.IntN(7)}
		m := make([]bool, size[0]*size[1]*size[2])
		density := 0.2 + 0.6*rng.Float64()
		for i := range m {
			m[i] = rng.Float64() < density
		}
		m[rng.IntN(len(m))] = true
		sp := [3]float64{0.3 + rng.Float64(), 0.3 + rng.Float64(), 0.5 + 3*rng.Float64()}
		if trial%4 == 0 {
			sp = [3]float64{1, 1, 1} // many exact ties
		}
		pd := [3]int{size[0] + 2, size[1] + 2, size[2] + 2}
		pm := make([]bool, pd[0]*pd[1]*pd[2])
		for z := 0; z < size[2]; z++ {
			for y := 0; y < size[1]; y++ {
				for x := 0; x < size[0]; x++ {
					pm[((z+1)*pd[1]+y+1)*pd[0]+x+1] = m[(z*size[1]+y)*size[0]+x]
				}
			}
		}
		sz := [3]float64{sp[2], sp[1], sp[0]}
		verts := shapeBoundaryVertices(pm, pd)
		var want [4]float64
		for i := range verts {
			a := shapePhysical(verts[i], sz)
			for j := i + 1; j < len(verts); j++ {
				b := shapePhysical(verts[j], sz)
				d := shapeDist2(a, b)
				for k := 0; k < 3; k++ {
					if a[k] == b[k] {
						want[k] = max(want[k], d)
					}
				}
				want[3] = max(want[3], d)
			}
		}
		for k := range want {
			want[k] = math.Sqrt(want[k])
		}
		got := shapeMeshDiameters(verts, [3]int{2*pd[2] + 1, 2*pd[1] + 1, 2*pd[0] + 1}, sz)
		if got != want {
			t.Errorf("trial %d size %v: diameters %v, all pairs %v", trial, size, got, want)
		}
	}
}

// Scaling the spacing scales the mesh volume by the product of the factors (the mesh is an affine
// image of the unit-spacing mesh) for any mask, including ones with ambiguous cube configurations.
func TestShapeMeshVolumeScaling(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	size := [3]int{12, 10, 8}
	m := make([]bool, size[0]*size[1]*size[2])
	for i := range m {
		m[i] = rng.Float64() < 0.55
	}
	u, err := ShapeFeatures(m, size, [3]float64{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ShapeFeatures(m, size, [3]float64{0.5, 2, 4})
	if err != nil {
		t.Fatal(err)
	}
	shapeClose(t, "MeshVolume", s["MeshVolume"], 4*u["MeshVolume"], 1e-12)
	shapeClose(t, "VoxelVolume", s["VoxelVolume"], 4*u["VoxelVolume"], 1e-15)
}
