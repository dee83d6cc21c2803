// Models this extension registers with BokehJS.
export {TileViewer} from "./tile_viewer"
