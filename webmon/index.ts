// Entry point of webmon's Bokeh extension; `bokeh build` bundles it into dist/webmon.js.
import * as TilesExtension from "./tiles_extension/index"
export {TilesExtension}

import {register_models} from "@bokehjs/base"
register_models(TilesExtension)
