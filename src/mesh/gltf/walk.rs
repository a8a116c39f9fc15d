//! Walking the scene's node hierarchy: which nodes are placed, and where.

use super::*;

impl Reader<'_> {
    /// Calls `visit(mesh, world transform)` for every mesh instance of the scene, in order.
    ///
    /// A node is placed once, however many scenes list it; a node that is the child of two nodes,
    /// or a cycle reached from a scene, fails the file (glTF node hierarchies must be trees).
    pub(super) fn walk(
        &mut self,
        visit: &mut dyn FnMut(&mut Self, usize, &Mat) -> Result<(), MeshError>,
    ) -> Result<(), MeshError> {
        let doc = self.doc;
        let root = doc.as_json();
        let n = root.nodes.len();
        if n == 0 {
            // No nodes: a library of meshes, each placed once as it is.
            for m in 0..root.meshes.len() {
                visit(self, m, &IDENTITY)?;
            }
            return Ok(());
        }
        let mut parents = vec![0u8; n];
        for (i, node) in root.nodes.iter().enumerate() {
            for c in node.children.iter().flatten() {
                let p = &mut parents[c.value()];
                if *p > 0 {
                    return Err(err(format!(
                        "node {} is a child of more than one node (node {i} among them); \
                         glTF node hierarchies must be trees",
                        c.value()
                    )));
                }
                *p = 1;
            }
        }
        let roots: Vec<usize> = match (root.scene, root.scenes.is_empty()) {
            (Some(s), _) => root.scenes[s.value()]
                .nodes
                .iter()
                .map(|i| i.value())
                .collect(),
            (None, false) => root
                .scenes
                .iter()
                .flat_map(|s| s.nodes.iter().map(|i| i.value()))
                .collect(),
            (None, true) => (0..n).filter(|&i| parents[i] == 0).collect(),
        };
        let mut seen = vec![false; n];
        // Nodes on the path from the current root: a child among them closes a cycle.
        let mut on_path = vec![false; n];
        // Depth-first with an explicit path (node, next child, world transform): no recursion,
        // so a chain of a million nodes cannot overflow the stack.
        let mut path: Vec<(usize, usize, Mat)> = Vec::new();
        for r in roots {
            if std::mem::replace(&mut seen[r], true) {
                continue;
            }
            let w = local(&root.nodes[r]);
            self.place(r, &w, visit)?;
            path.push((r, 0, w));
            on_path[r] = true;
            while let Some((node, next, w)) = path.last_mut() {
                let children = root.nodes[*node].children.as_deref().unwrap_or_default();
                let Some(c) = children.get(*next).map(|c| c.value()) else {
                    on_path[*node] = false;
                    path.pop();
                    continue;
                };
                *next += 1;
                if on_path[c] {
                    return Err(err(format!(
                        "the node hierarchy has a cycle: node {} lists node {c}, which is \
                         itself or one of its ancestors, as a child; glTF node hierarchies \
                         must be trees",
                        *node
                    )));
                }
                // Also listed by a scene, and placed there already.
                if std::mem::replace(&mut seen[c], true) {
                    continue;
                }
                let cw = mul(w, &local(&root.nodes[c]));
                self.place(c, &cw, visit)?;
                path.push((c, 0, cw));
                on_path[c] = true;
            }
        }
        Ok(())
    }

    /// Visits a node's mesh, if it has one.
    fn place(
        &mut self,
        node: usize,
        world: &Mat,
        visit: &mut dyn FnMut(&mut Self, usize, &Mat) -> Result<(), MeshError>,
    ) -> Result<(), MeshError> {
        let doc = self.doc;
        let json = &doc.as_json().nodes[node];
        let Some(mesh) = json.mesh else {
            return Ok(());
        };
        // A skinned mesh is placed by its joints, never by its node (the specification's rule);
        // without animation that is its bind pose, the mesh's own coordinates.
        let world = if json.skin.is_some() {
            &IDENTITY
        } else {
            world
        };
        visit(self, mesh.value(), world)
    }
}
