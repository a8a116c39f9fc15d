//! The document's top-level counts, read before the gltf crate parses it, so a file cannot
//! claim more JSON objects than its size allows.

use super::*;

/// Bytes the document's structures may take per byte of JSON.
pub(super) const JSON_BYTES_PER_BYTE: u64 = 16;

/// What the document holds, read without building it: the version, and how many elements each
/// top-level array has.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Head {
    pub(super) asset: Option<Asset>,
    #[serde(default)]
    accessors: Count,
    #[serde(default)]
    animations: Count,
    #[serde(default)]
    buffers: Count,
    #[serde(default)]
    buffer_views: Count,
    #[serde(default)]
    cameras: Count,
    #[serde(default)]
    images: Count,
    #[serde(default)]
    materials: Count,
    #[serde(default)]
    meshes: Count,
    #[serde(default)]
    nodes: Count,
    #[serde(default)]
    samplers: Count,
    #[serde(default)]
    scenes: Count,
    #[serde(default)]
    skins: Count,
    #[serde(default)]
    textures: Count,
}

#[derive(serde::Deserialize)]
pub(super) struct Asset {
    pub(super) version: Option<String>,
}

impl Head {
    fn counts(&self) -> [(u64, usize); 13] {
        use std::mem::size_of;
        [
            (self.accessors.0, size_of::<json::Accessor>()),
            (self.animations.0, size_of::<json::Animation>()),
            (self.buffers.0, size_of::<json::Buffer>()),
            (self.buffer_views.0, size_of::<json::buffer::View>()),
            (self.cameras.0, size_of::<json::Camera>()),
            (self.images.0, size_of::<json::Image>()),
            (self.materials.0, size_of::<json::Material>()),
            (self.meshes.0, size_of::<json::Mesh>()),
            (self.nodes.0, size_of::<json::Node>()),
            (self.samplers.0, size_of::<json::texture::Sampler>()),
            (self.scenes.0, size_of::<json::Scene>()),
            (self.skins.0, size_of::<json::Skin>()),
            (self.textures.0, size_of::<json::Texture>()),
        ]
    }

    pub(super) fn held_bytes(&self) -> u64 {
        self.counts().iter().map(|&(n, size)| n * size as u64).sum()
    }

    pub(super) fn objects(&self) -> u64 {
        self.counts().iter().map(|&(n, _)| n).sum()
    }
}

/// The length of a JSON array, its elements skipped without being kept.
#[derive(Default)]
pub(super) struct Count(u64);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(Visit)
    }
}
