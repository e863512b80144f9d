// The landing page: the list of pages and what each needs. Only the language switch is live.
import { startPage } from "./hallcall.js";

startPage();
